"""Queue membership the service keeps for its agents: who is logged into which Asterisk queue, paused with which
reason, re-applied after every AMI (re)connect (Asterisk forgets dynamic members on a restart)."""
