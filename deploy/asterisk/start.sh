#!/bin/sh
# Entry of the asterisk service (docker-compose.yml): writes the two settings that come from the environment, then
# hands over to the image's own entrypoint (uid/gid mapping) and its command. Asterisk's config files cannot read
# the environment themselves. /etc/asterisk is a volume of the image, so it is writable here although the
# configuration files mounted into it are read-only.
set -eu

: "${CALLCENTER_AMI_SECRET:?set CALLCENTER_AMI_SECRET (the AMI secret the service logs in with)}"
: "${ASTERISK_EXTERNAL_ADDRESS:?set ASTERISK_EXTERNAL_ADDRESS (the address phones and the trunk reach this host at)}"
: "${ASTERISK_LOCAL_NET:?set ASTERISK_LOCAL_NET (the compose network subnet)}"

umask 077
printf '[callcenter](+)\nsecret = %s\n' "$CALLCENTER_AMI_SECRET" > /etc/asterisk/manager_secret.conf
printf '[transport-udp](+)\nexternal_media_address = %s\nexternal_signaling_address = %s\nlocal_net = %s\n' \
  "$ASTERISK_EXTERNAL_ADDRESS" "$ASTERISK_EXTERNAL_ADDRESS" "$ASTERISK_LOCAL_NET" > /etc/asterisk/pjsip_nat.conf
# Asterisk reads its configuration after dropping to the asterisk user (-U asterisk)
chown asterisk:asterisk /etc/asterisk/manager_secret.conf /etc/asterisk/pjsip_nat.conf

exec /usr/local/bin/entrypoint.sh "$@"
