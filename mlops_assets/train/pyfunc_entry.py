"""The file MLflow logs as the registered model's code (models from code, no pickle): it names the
pyfunc class, which loads its files in ``load_context``."""

from mlflow.models import set_model

from mlops_assets.train.pyfunc import PlatformModel

set_model(PlatformModel())
