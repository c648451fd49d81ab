"""The ``mlops-assets`` command line."""
