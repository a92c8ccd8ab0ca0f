#!/bin/sh
# Create every secret file docker-compose.yml mounts (./secrets, git-ignored), keeping any that exist, so
# running it again never rotates anything. Needs python3 and openssl.
#
# Files are 0444 (the containers run as other users and must read them) inside a 0700 directory (no
# other user of this machine can reach them). Provider credentials are never generated: put them in
# ./secrets yourself (deploy/compose/{stripe,bkash,nagad}.yml say which).
set -eu
cd "$(dirname "$0")/.."
mkdir -p secrets
chmod 0700 secrets
cd secrets

random() { python3 -c 'import secrets; print(secrets.token_urlsafe(36), end="")'; }
# keep FILE COMMAND...: write FILE from COMMAND's output unless it already has content.
keep() {
    file=$1
    shift
    if [ ! -s "$file" ]; then
        "$@" > "$file.tmp"
        mv "$file.tmp" "$file"
        echo "created secrets/$file"
    fi
}

keep internal_token random
keep jwt_refresh_secret random
keep captcha_secret random
keep backup_encryption_key random
keep jwt_signing_key openssl genpkey -algorithm ed25519
keep redis_password random
keep mongodb_root_password random
# The replica set's internal authentication (MongoDB accepts 6 to 1024 base64 characters).
keep mongodb_keyfile openssl rand -base64 756
keep bootstrap_admin_password random

# A private certificate authority for MongoDB's TLS, and the server's certificate (10 years; the names
# are the compose service and localhost, for the healthcheck).
if [ ! -s mongodb_ca.pem ] || [ ! -s mongodb_tls.pem ]; then
    work=$(mktemp -d)
    openssl req -x509 -newkey rsa:3072 -nodes -days 3650 -subj "/CN=shop MongoDB CA" \
        -keyout "$work/ca.key" -out mongodb_ca.pem 2> /dev/null
    openssl req -newkey rsa:3072 -nodes -subj "/CN=mongodb" \
        -keyout "$work/server.key" -out "$work/server.csr" 2> /dev/null
    printf 'subjectAltName=DNS:mongodb,DNS:localhost,IP:127.0.0.1\n' > "$work/san.cnf"
    openssl x509 -req -in "$work/server.csr" -CA mongodb_ca.pem -CAkey "$work/ca.key" \
        -CAserial "$work/ca.srl" -CAcreateserial -days 3650 -extfile "$work/san.cnf" -out "$work/server.crt" 2> /dev/null
    cat "$work/server.key" "$work/server.crt" > mongodb_tls.pem
    rm -rf "$work"
    echo "created secrets/mongodb_ca.pem and secrets/mongodb_tls.pem"
fi

# Each service's own database user (deploy/mongodb/roles.py), its URL holding its password; the
# mongodb-users job creates the users from these files. Passwords are URL-safe, so nothing is escaped.
options="replicaSet=rs0&tls=true&tlsCAFile=/run/secrets/mongodb_ca"
admin_url='mongodb://root:%s@mongodb:27017/?authSource=admin&%s'  # pragma: allowlist secret
user_url='mongodb://%s:%s@mongodb:27017/shop?authSource=shop&%s'  # pragma: allowlist secret
if [ ! -s mongodb_admin_url ]; then
    # shellcheck disable=SC2059 # the format is ours, a constant above
    printf "$admin_url" "$(cat mongodb_root_password)" "$options" > mongodb_admin_url
    echo "created secrets/mongodb_admin_url"
fi
for user in auth catalog order payment backup restore; do
    if [ ! -s "mongodb_url_$user" ]; then
        # shellcheck disable=SC2059 # the format is ours, a constant above
        printf "$user_url" "$user" "$(random)" "$options" > "mongodb_url_$user"
        echo "created secrets/mongodb_url_$user"
    fi
done
if [ ! -s redis_url ]; then
    printf 'redis://:%s@redis:6379/0' "$(cat redis_password)" > redis_url
    echo "created secrets/redis_url"
fi

chmod 0444 ./*
echo "secrets ready in ./secrets; add your payment provider's credentials there (docs/deployment.md)"
