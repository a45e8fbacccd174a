#!/bin/sh
# Installs what benches/matching/make_set.py needs on Debian 12 (bookworm):
#  - Debian's wallpaper packages the originals and distractors are cut from (about 225 MB
#    of .debs: gnome-backgrounds, lomiri-wallpapers-16.04/-20.04, mate-backgrounds,
#    plasma-workspace-wallpapers, ukui-wallpapers), and python3-venv;
#  - a virtualenv with the pinned pip packages of requirements.txt.
# Usage: sh benches/matching/setup.sh            (virtualenv in benches/matching/.venv)
#        MATCH_VENV=/tmp/matchenv sh benches/matching/setup.sh
#        SKIP_APT=1 sh benches/matching/setup.sh (the Debian packages are already there)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
venv=${MATCH_VENV:-$here/.venv}

if [ "${SKIP_APT:-0}" != 1 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends \
        python3 python3-venv \
        gnome-backgrounds lomiri-wallpapers-16.04 lomiri-wallpapers-20.04 \
        mate-backgrounds plasma-workspace-wallpapers ukui-wallpapers
fi

[ -x "$venv/bin/python" ] || /usr/bin/python3 -m venv "$venv"
"$venv/bin/pip" install --disable-pip-version-check -q -r "$here/requirements.txt"
echo "ready; generate the set with:"
echo "  $venv/bin/python $here/make_set.py /tmp/matchset"
