#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# The add-on in a released Blender binary: Debian sid's Blender 5.x (its own Python 3.14 and numpy 2), in a separate
# root built once per machine with mmdebstrap (never sid in the host's sources). Needs root (CI runs as root).
#
#   1. the extension zip, built here, installed with Blender's own `blender --command extension install-file`
#   2. tests/real_blender/operators.py: add, shape, pose, write pose, import motion, correctives, FBX / glTF through
#      the installed extension's operators (`blender -b`)
#   3. the batch command: `blender -b --python smpl_blender_addon/cli.py -- export-fbx ...`, read back with ufbx
#   4. the core tests with the root's python3 (3.14, numpy 2), the Blender and e2e tests inside the binary
#   5. the GUI under Xvfb (tests/real_blender/gui.py): sidebar, add body, import the demo motion, screenshots in
#      out/real-blender/ (SMPL_UPDATE_DOCS=1 copies them to docs/img)
# Fails on any add-on traceback in Blender's output. Usage: scripts/real_blender.sh [STEP ...] (default: all steps:
# install operators batch core tests gui). SMPL_SID_ROOT picks the root's folder (default /var/tmp/smpl_blender_sid).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SID="${SMPL_SID_ROOT:-/var/tmp/smpl_blender_sid}"
PACKAGES="blender,xvfb,xauth,python3-pytest,python3-numpy,python3-pil,python3-cattr,python3-requests,xdotool,imagemagick"
# Readers and test tools that Debian does not package, as wheels for the root's Python (no numpy/scipy: Debian's stay)
PYPI="ufbx==0.0.5 pygltflib==1.16.5 dataclasses-json==0.6.7 marshmallow==3.26.2 typing-inspect==0.9.0
      mypy-extensions==1.2.0 typing-extensions==4.16.0 deprecated==1.3.1 wrapt==2.5.2 hypothesis==6.170.27
      sortedcontainers==2.4.0 smplcodec==2.3.0 semver==3.2.0"
STEPS=("$@")
[ ${#STEPS[@]} -gt 0 ] || STEPS=(install operators batch core tests gui)
OUT="$REPO/out/real-blender"
mkdir -p "$OUT"

if [ "$(id -u)" != 0 ]; then
    echo "real_blender.sh: needs root (mmdebstrap and chroot)" >&2
    exit 1
fi

# ---------------------------------------------------------------------------------------------------- the sid root
# on the root Python's own path, so that Blender (which ignores PYTHONPATH) sees them too
PYLIB=usr/local/lib/python3.14/dist-packages
STAMP="$SID/.smpl-root-$(echo "$PACKAGES $PYPI $PYLIB" | sha1sum | cut -c1-12)"
if [ ! -f "$STAMP" ]; then
    command -v mmdebstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq mmdebstrap >/dev/null; }
    echo "building the Debian sid root in $SID (once per machine, about a minute)" >&2
    rm -rf "$SID.tmp"
    mmdebstrap --quiet --variant=apt --aptopt='Acquire::Check-Valid-Until "false"' --include="$PACKAGES" \
        sid "$SID.tmp" http://deb.debian.org/debian
    # shellcheck disable=SC2086
    python3 -m pip install -q --disable-pip-version-check --no-deps --target "$SID.tmp/$PYLIB" \
        --python-version 3.14 --only-binary=:all: --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
        --platform manylinux_2_17_x86_64 $PYPI 2>&1 | grep -v "^WARNING: Location" >&2 || true
    [ -d "$SID.tmp/$PYLIB/ufbx" ] || { echo "could not install the readers into the root" >&2; exit 1; }
    mkdir -p "$SID.tmp/src" "$SID.tmp/out"
    rm -rf "$SID"
    mv "$SID.tmp" "$SID"
    touch "$STAMP"
fi
BLENDER_VERSION="$(chroot "$SID" blender --version 2>/dev/null | head -1)"
echo "real Blender: $BLENDER_VERSION, $(chroot "$SID" python3 -c 'import sys, numpy; print("Python", sys.version.split()[0], "numpy", numpy.__version__)')"

# Run a command in the root: its own mount namespace (nothing stays mounted afterwards), the repository read-only at
# /src, out/real-blender at /out, a fresh tmpfs /tmp and HOME per call (no Blender preferences carried between runs).
in_root() {
    unshare --mount --propagation private -- /bin/bash -c '
        set -e; SID="$1"; REPO="$2"; OUT="$3"; shift 3
        mount -t proc proc "$SID/proc"
        mount -t tmpfs tmpfs "$SID/tmp"
        mount -t tmpfs tmpfs "$SID/dev/shm"
        mount --bind "$REPO" "$SID/src"; mount -o remount,bind,ro "$SID/src"
        mount --bind "$OUT" "$SID/out"
        mkdir -p "$SID/tmp/home"
        exec chroot "$SID" /usr/bin/env -i HOME=/tmp/home PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 \
            PYTHONDONTWRITEBYTECODE=1 OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 \
            SMPL_REAL_BLENDER=1 "$@"
    ' in_root "$SID" "$REPO" "$OUT" "$@"
}

# Blender's output of one step: fails on any traceback or Python error in it (even one Blender only printed)
check_log() {
    local log="$1" what="$2"
    if grep -nE "Traceback|Error: Python|Exception in module|Error in (draw|poll)" "$log" >/dev/null; then
        echo "FAILED $what: Blender printed an error ($log):" >&2
        grep -nE -B2 -A12 "Traceback|Error: Python|Exception in module|Error in (draw|poll)" "$log" | head -80 >&2
        return 1
    fi
}

# The extension zip, staged by scripts/build_extension.py and built and validated by the root Blender's own
# blender_ext.py, then installed and enabled the way a user does; the installed copy lives in the per-call HOME, so
# each step that needs it installs it again (a second or two).
build_zip() {
    mkdir -p "$OUT/dist"
    rm -f "$OUT/dist/"*.zip
    in_root python3 /src/scripts/build_extension.py --output-dir /out/dist \
        --tool /usr/share/blender/scripts/addons_core/bl_pkg/cli/blender_ext.py > "$OUT/build.log" 2>&1 \
        || { cat "$OUT/build.log" >&2; return 1; }
}
INSTALL="blender --command extension install-file -r user_default --enable /out/dist/smpl_blender_addon-*.zip"

status=0
run_step() {
    local step="$1" t0=$SECONDS log="$OUT/$1.log"
    case "$step" in
    install)
        build_zip
        in_root bash -c "$INSTALL && blender -b --python-exit-code 1 --python-expr 'import addon_utils, sys; \
            sys.exit(0 if addon_utils.check(\"bl_ext.user_default.smpl_blender_addon\")[1] else 1)'" > "$log" 2>&1 ;;
    operators)
        in_root bash -c "$INSTALL >/dev/null && blender -b --python-exit-code 1 --python /src/tests/real_blender/operators.py \
            -- /tmp/operators" > "$log" 2>&1 ;;
    batch)
        in_root bash -c "cd /src && blender -b --factory-startup --python-exit-code 1 --python smpl_blender_addon/cli.py \
            -- export-fbx assets/demo_motion_smplx.npz --out /tmp/fbx && \
            python3 tests/ufbx_reader.py /tmp/fbx/demo_motion_smplx.npz.fbx --frames 0 10 > /tmp/read.json && \
            python3 -c 'import json; d = json.load(open(\"/tmp/read.json\")); \
                bones = {n[\"name\"] for n in d[\"nodes\"] if n[\"is_bone\"]}; \
                assert {\"pelvis\", \"jaw\", \"right_index3\"} <= bones and len(d[\"samples\"]) == 2, sorted(bones)[:9]; \
                print(\"ufbx read\", len(bones), \"bones\")'" \
            > "$log" 2>&1 ;;
    core)
        in_root bash -c "cd /tmp && python3 -m pytest -q -p no:cacheprovider --rootdir /src /src/tests/core" > "$log" 2>&1 ;;
    tests)
        in_root bash -c "cd /tmp && blender -b --factory-startup --python-exit-code 1 --python-expr 'import sys, pytest; \
            sys.exit(pytest.main([\"-q\", \"-p\", \"no:cacheprovider\", \"--rootdir\", \"/src\", \"/src/tests/blender\", \
            \"/src/tests/e2e\"]))'" > "$log" 2>&1 ;;
    gui)
        in_root bash -c "$INSTALL >/dev/null && blender -b --python-expr 'import bpy; \
            bpy.context.preferences.view.show_splash = False; bpy.ops.wm.save_userpref()' >/dev/null && xvfb-run -a -s '-screen 0 1600x1000x24' blender --python-exit-code 1 \
            --python /src/tests/real_blender/gui.py -- /out/gui" > "$log" 2>&1 ;;
    *) echo "unknown step $step" >&2; return 2 ;;
    esac
    local rc=$?
    if [ $rc -ne 0 ]; then
        echo "FAILED $step (exit $rc, $((SECONDS - t0)) s); the end of $log:" >&2
        tail -40 "$log" >&2
        return 1
    fi
    # the pytest steps print tracebacks of expected errors in their own reports; the Blender steps must print none
    case "$step" in core|tests) ;; *) check_log "$log" "$step" || return 1 ;; esac
    echo "ok $step ($((SECONDS - t0)) s)$(case "$step" in core|tests) echo ": $(tail -1 "$log")" ;; esac)"
}

for step in "${STEPS[@]}"; do
    run_step "$step" || status=1
done
if [ $status -eq 0 ] && [ "${SMPL_UPDATE_DOCS:-0}" = 1 ] && [ -d "$OUT/gui" ]; then
    in_root bash -c 'mkdir -p /out/docs && for f in /out/gui/readme-*.png; do
        convert "$f" -resize 1200x "/out/docs/$(basename "$f")"; done'
    cp "$OUT"/docs/readme-*.png "$REPO/docs/img/"
fi
exit $status
