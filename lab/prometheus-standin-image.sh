#!/usr/bin/env bash
# A stand-in for the prom/prometheus image of docker-compose.prometheus.yml, for a machine that
# cannot reach Docker Hub, built the way ../shared/docker/base-images.sh builds the other base images:
# Debian 12's prometheus package (2.42; apt-get download + dpkg-deb, no maintainer scripts) in an
# empty root, imported under the official name, with the official image's user (nobody), paths
# (/etc/prometheus, /prometheus), entrypoint and port. Differs from it: Prometheus 2.42, not 3.5
# (the config and rules here use nothing newer); Debian's build of the (classic) web UI; glibc and busybox.
# Needs a running dockerd and apt. Usage, from the project root: bash lab/prometheus-standin-image.sh
set -euo pipefail
NAME=$(awk '/image: prom\/prometheus:/ {print $2}' docker-compose.prometheus.yml)
WORK=${WORK:-/tmp/docker-standins}
DEBS=$WORK/debs
ROOT=$WORK/images/prometheus
mkdir -p "$DEBS"
chown _apt "$DEBS" 2>/dev/null || true

# The binary links against libc only (checked with ldd below); its web UI links to Debian's
# JavaScript and font packages (checked for dangling links below).
packages=(prometheus libc6 fonts-glyphicons-halflings libjs-bootstrap4 libjs-eonasdan-bootstrap-datetimepicker
  libjs-jquery libjs-jquery-hotkeys libjs-moment libjs-moment-timezone libjs-mustache libjs-popper.js libjs-rickshaw libjs-d3)
for p in "${packages[@]}"; do
  compgen -G "$DEBS/${p}_*.deb" >/dev/null || (cd "$DEBS" && apt-get download -q "$p" >/dev/null 2>&1)
done

rm -rf "$ROOT"
mkdir -p "$ROOT"/usr/{bin,sbin,lib,lib64} "$ROOT"/{etc,tmp,proc,sys,dev,prometheus}
ln -s usr/bin "$ROOT/bin"; ln -s usr/sbin "$ROOT/sbin"; ln -s usr/lib "$ROOT/lib"; ln -s usr/lib64 "$ROOT/lib64"
chmod 1777 "$ROOT/tmp"
for p in "${packages[@]}"; do
  dpkg-deb --fsys-tarfile "$(compgen -G "$DEBS/${p}_*.deb" | head -1)" | tar -x --keep-directory-symlink -C "$ROOT"
done
extra=$(ldd "$ROOT/usr/bin/prometheus" | awk '/=>/ {print $3}' | grep -v '/libc\.so' || true)
if [ -n "$extra" ]; then echo "prometheus needs more than libc: $extra" >&2; exit 1; fi
dangling=$(cd "$ROOT" && find usr/share/prometheus -xtype l)
if [ -n "$dangling" ]; then echo "the web UI links to files no package here provides: $dangling" >&2; exit 1; fi

# The official image is busybox-based: a shell and wget for healthchecks and debugging.
cp /bin/busybox "$ROOT/usr/bin/busybox"
for a in $(busybox --list); do [ -e "$ROOT/usr/bin/$a" ] || ln -s busybox "$ROOT/usr/bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n' > "$ROOT/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$ROOT/etc/group"
printf 'hosts: files dns\npasswd: files\ngroup: files\n' > "$ROOT/etc/nsswitch.conf"
chown 65534:65534 "$ROOT/prometheus"
rm -rf "$ROOT/usr/share/doc" "$ROOT/usr/share/man" "$ROOT/etc/init.d" "$ROOT/etc/default" "$ROOT/etc/logrotate.d" "$ROOT/lib/systemd"
if [ -e "$ROOT/etc/apt" ]; then echo "the root holds apt config" >&2; exit 1; fi

tmp=standin-rootfs:prometheus
tar --numeric-owner -C "$ROOT" -cf "$ROOT.tar" .
docker rmi -f "$NAME" "$tmp" >/dev/null 2>&1 || true
docker import -m "rootfs of the stand-in for $NAME (lab/prometheus-standin-image.sh)" "$ROOT.tar" "$tmp" >/dev/null
rm -f "$ROOT.tar"
mkdir -p "$ROOT.ctx"
cat > "$ROOT.ctx/Dockerfile" <<DOCKERFILE
FROM $tmp
USER nobody
EXPOSE 9090
VOLUME ["/prometheus"]
WORKDIR /prometheus
ENTRYPOINT ["/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
DOCKERFILE
docker build -q -t "$NAME" "$ROOT.ctx" >/dev/null
docker rmi "$tmp" >/dev/null
rm -rf "$ROOT.ctx"
echo "$NAME: $(docker run --rm "$NAME" --version 2>&1 | grep -m1 "^prometheus")"
