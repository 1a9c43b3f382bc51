#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages honed and its tests use. Idempotent; quiet when all are present.
set -euo pipefail
pkgs=(debootstrap skopeo umoci runc bubblewrap podman buildah docker-registry strace zstd python3-venv
      ca-certificates curl rpm
      # podman's networking and init (recommends of podman; installed explicitly as recommends are off here):
      # `podman run -p 127.0.0.1:PORT:PORT` needs netavark + iptables
      netavark aardvark-dns iptables catatonit slirp4netns fuse-overlayfs uidmap
      make tar gzip xz-utils util-linux
      # debootstrap of Debian bookworm for the fixture images (an Ubuntu host lacks the Debian keyring)
      debian-archive-keyring gpgv wget)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then echo "run as root to install: ${missing[*]}" >&2; exit 4; fi
  echo "installing: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
