"""The agent's SIP desk phone working with the service: feature codes (features.py) and BLF keys (blf.py)."""
