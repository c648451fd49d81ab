"""What every stage uses: the spec, the state folder's paths, the warehouse, files and hashes, SQL safety, verdicts, the model registry."""
