#!/bin/sh
# Create the secret files docker-compose.yml mounts (./secrets, git-ignored), keeping any that exist.
# Needs python3 and openssl. The image runs as uid 10001, which must be able to read them.
set -eu
cd "$(dirname "$0")/.."
mkdir -p secrets
random() { python3 -c 'import secrets; print(secrets.token_urlsafe(48), end="")'; }
[ -s secrets/internal_token ] || random > secrets/internal_token
[ -s secrets/jwt_refresh_secret ] || random > secrets/jwt_refresh_secret
[ -s secrets/captcha_secret ] || random > secrets/captcha_secret
[ -s secrets/backup_encryption_key ] || random > secrets/backup_encryption_key
[ -s secrets/jwt_signing_key ] || openssl genpkey -algorithm ed25519 -out secrets/jwt_signing_key
chmod 0444 secrets/*
echo "secrets ready in ./secrets (readable by the containers; keep this folder out of backups you share)"
