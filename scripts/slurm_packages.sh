#!/usr/bin/env bash
# Installs, as root, Debian's packages for the one-node SLURM cluster of scripts/slurm_local.sh
# (which tests/test_slurm.py starts): SLURM's daemons and clients, munge, and slurmdbd with a
# MariaDB server for job accounting (sacct). A no-op when all are installed; .ci/run calls it.
# The packages' system services are kept from starting during the install (a policy-rc.d that
# forbids it, where the machine has none): the cluster runs its own daemons with its own configs.
set -euo pipefail
packages=(slurm-wlm munge slurmdbd mariadb-server-core mariadb-client-core)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" -ne 0 ]; then
  echo "slurm_packages: not root: cannot install ${missing[*]} (the SLURM tests will be skipped)" >&2
  exit 0
fi
echo "slurm_packages: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod +x "$policy"
  trap 'rm -f "$policy"' EXIT
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
