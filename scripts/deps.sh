#!/usr/bin/env bash
# deps.sh installs the Debian packages the tests talk to: SIPp (sip-tester) as a real SIP
# peer, espeak-ng for spoken whispers, PostgreSQL 15 for the store tests, promtool (alone,
# without the Prometheus daemon) and docker-compose to check the deploy files, sipvicious
# to scan the SIP port, sox to read call recordings back, swaks and dovecot for the mail
# intake, Kamailio (with its TLS module) as a carrier that wants a registration, over UDP
# and TLS, baresip and linphone-cli as salespeople's softphones, nodejs and npm to verify
# webhook signatures with npm's standardwebhooks. Quiet and quick when they are already
# there.
set -euo pipefail

need=()
command -v sipp >/dev/null 2>&1 || need+=(sip-tester)
command -v espeak-ng >/dev/null 2>&1 || need+=(espeak-ng)
command -v sox >/dev/null 2>&1 || need+=(sox)                        # reads call recordings back (a repaired WAV plays)
[ -x /usr/lib/postgresql/15/bin/pg_ctl ] || need+=(postgresql-15)
command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)  # compose file validation
command -v svwar >/dev/null 2>&1 || need+=(sipvicious)               # SIP scan of a running server
command -v baresip >/dev/null 2>&1 || need+=(baresip)                # a real softphone registering as a salesperson
command -v linphonec >/dev/null 2>&1 || need+=(linphone-cli)         # another one
command -v swaks >/dev/null 2>&1 || need+=(swaks)                    # real SMTP clients for the mail intake tests
perl -MNet::SSLeay -e 1 >/dev/null 2>&1 || need+=(libnet-ssleay-perl) # swaks --tls
[ -x /usr/sbin/dovecot ] || need+=(dovecot-imapd)                    # a real IMAP server for the mailbox tests
command -v kamailio >/dev/null 2>&1 || need+=(kamailio)              # a registrar and carrier for the trunk tests
command -v node >/dev/null 2>&1 || need+=(nodejs)                     # verifies webhook signatures (webhook/webhooktest)
command -v npm >/dev/null 2>&1 || need+=(npm)                         # installs npm's standardwebhooks for that
command -v xmllint >/dev/null 2>&1 || need+=(libxml2-utils)           # validates the ADF Leadline writes against the ADF 1.0 DTD
/usr/bin/python3 -c 'import aiosmtpd' >/dev/null 2>&1 || need+=(python3-aiosmtpd) # a real SMTP relay and recipient for outgoing mail
compgen -G '/usr/lib/*/kamailio/modules/tls.so' >/dev/null || need+=(kamailio-tls-modules) # the carrier over TLS
promtool=0
command -v promtool >/dev/null 2>&1 || promtool=1                    # alert rule and config checks
[ ${#need[@]} -eq 0 ] && [ $promtool -eq 0 ] && exit 0

sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo -n)
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
if [ ${#need[@]} -gt 0 ]; then
	echo "deps.sh: installing ${need[*]}" >&2
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if [ $promtool -eq 1 ]; then
	# Only promtool, out of Debian's prometheus package: no Prometheus daemon (nor its
	# web assets) is installed, started or needed.
	echo "deps.sh: installing promtool (from Debian's prometheus package)" >&2
	tmp=$(mktemp -d)
	(cd "$tmp" && apt-get download -qq prometheus >/dev/null 2>&1)
	dpkg-deb --fsys-tarfile "$tmp"/prometheus_*.deb | tar -xO ./usr/bin/promtool >"$tmp/promtool"
	"${sudo[@]}" install -m 0755 "$tmp/promtool" /usr/local/bin/promtool
	rm -rf "$tmp"
fi
