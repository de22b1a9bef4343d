#!/bin/sh
# Entry of the asterisk service (docker-compose.yml): writes the two settings that come from the environment, then
# hands over to the image's own entrypoint (uid/gid mapping) and its command. Asterisk's config files cannot read
# the environment themselves. /etc/asterisk is a volume of the image, so it is writable here although the
# configuration files mounted into it are read-only. ASTERISK_CONFIG_DIR and IMAGE_ENTRYPOINT exist for
# tests/real_asterisk/test_compose_asterisk.py, which runs this script against an Asterisk outside Docker.
set -eu

: "${CALLCENTER_AMI_SECRET:?set CALLCENTER_AMI_SECRET (the AMI secret the service logs in with)}"
: "${ASTERISK_EXTERNAL_ADDRESS:?set ASTERISK_EXTERNAL_ADDRESS (the address phones and the trunk reach this host at)}"
: "${ASTERISK_LOCAL_NET:?set ASTERISK_LOCAL_NET (the compose network subnet)}"
etc="${ASTERISK_CONFIG_DIR:-/etc/asterisk}"

umask 077
printf '[callcenter](+)\nsecret = %s\n' "$CALLCENTER_AMI_SECRET" > "$etc/manager_secret.conf"
printf '[transport-udp](+)\nexternal_media_address = %s\nexternal_signaling_address = %s\nlocal_net = %s\n' \
  "$ASTERISK_EXTERNAL_ADDRESS" "$ASTERISK_EXTERNAL_ADDRESS" "$ASTERISK_LOCAL_NET" > "$etc/pjsip_nat.conf"
# Asterisk reads its configuration after dropping to the asterisk user (-U asterisk)
if id asterisk >/dev/null 2>&1; then
  chown asterisk:asterisk "$etc/manager_secret.conf" "$etc/pjsip_nat.conf"
fi

exec "${IMAGE_ENTRYPOINT:-/usr/local/bin/entrypoint.sh}" "$@"
