#!/usr/bin/env bash
# Throw-away TLS material for a test broker: a CA, a broker certificate for 127.0.0.1 and localhost,
# and a client certificate (mutual TLS), all signed by that CA; plus the broker's PKCS#12 keystore
# and truststore. For tests and local trials only: a real cluster's certificates come from its
# platform team.
#
#   deploy/kafka/test-certs.sh DIR
#
# Writes DIR/ca.pem, broker.{pem,key,p12}, truststore.p12, client.{pem,key} and
# DIR/store-password (mode 600; the keystore and truststore password). Existing files are kept.
set -euo pipefail

dir="${1:?usage: $0 DIR}"
mkdir -p "$dir"
chmod 700 "$dir"
cd "$dir"
if [ -f .complete ]; then exit 0; fi
umask 077

days=30
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days "$days" \
  -subj "/CN=FinSent test CA" -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null

# sign NAME SUBJECT EXTENSIONS: NAME.key and NAME.pem signed by the CA.
sign() {
  openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
  printf '%s\n' "$3" >"$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -out "$1.pem" \
    -days "$days" -extfile "$1.ext" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}
sign broker "/CN=localhost" "subjectAltName=DNS:localhost,IP:127.0.0.1
extendedKeyUsage=serverAuth"
sign client "/CN=finsent-client" "extendedKeyUsage=clientAuth"

head -c 18 /dev/urandom | base64 | tr -d '/+=' >store-password
pw="$(cat store-password)"
openssl pkcs12 -export -in broker.pem -inkey broker.key -certfile ca.pem -name broker \
  -out broker.p12 -passout "pass:$pw"
rm -f truststore.p12
keytool -importcert -noprompt -alias ca -file ca.pem -keystore truststore.p12 -storetype PKCS12 \
  -storepass "$pw" >/dev/null 2>&1
rm -f ca.srl
# The CA's key is not needed again: a test that wants a certificate this CA did not sign makes its own CA.
rm -f ca.key
chmod 644 ca.pem broker.pem client.pem
touch .complete
