"""Calls that begin and end while the AMI session is down: rebuilt from what FastAGI saw and the recordings
MixMonitor left in the spool, so they still reach the CRM once, marked approximate."""
