"""Promote: the champion alias, the ledger, rollback and the model card."""
