#!/bin/sh
# Fit the todos' code-or-prose line model (plugins/todos/code_model.json) on a Debian 12 system's
# own files, as session 34 did (docs/EVAL.md, "Code read by its characters"):
#
#     sh examples/eval/fit_code_model.sh SCRATCH > plugins/todos/code_model.json
#
# Source files: what the system has installed under the folders below, and a few packages of
# languages a base system lacks, fetched with `apt-get download` into SCRATCH (no root needed).
# Documentation: /usr/share/doc and the fetched packages' docs. The figures held out go to stderr.
# What the system has installed changes the lines; the model's "about" records how many there were.
set -eu
scratch=${1:?usage: fit_code_model.sh SCRATCH}
here=$(cd "$(dirname "$0")/../.." && pwd)
python=${PYTHON:-$here/.venv/bin/python}
rm -rf "$scratch/root"
mkdir -p "$scratch/root"
cd "$scratch"
for p in libruby3.1 tcllib lua-penlight elpa-dash golang-github-pkg-errors-dev \
         golang-github-spf13-cobra-dev librust-libc-dev librust-serde-dev librust-regex-dev \
         php-pear node-semver node-commander erlang-src ocaml vim-scripts elpa-magit; do
    ls "$p"_*.deb >/dev/null 2>&1 || apt-get download -q "$p" >&2
    dpkg-deb -x "$p"_*.deb root/
done
r=$scratch/root
exec "$python" -m mustelid.plugins.todos.train_code \
    --code /usr/lib/python3 /usr/lib/python3.11 /usr/include /usr/share/perl /usr/share/perl5 \
           /usr/share/vim /usr/share/emacs /usr/share/cmake-3.25 /usr/share/guile /usr/share/tcltk \
           /usr/bin /usr/sbin "$r"/usr/lib "$r"/usr/share/ruby* "$r"/usr/share/lua "$r"/usr/share/emacs \
           "$r"/usr/share/gocode "$r"/usr/share/cargo "$r"/usr/share/php "$r"/usr/share/nodejs \
           "$r"/usr/share/vim "$r"/usr/include \
    --prose /usr/share/doc "$r"/usr/share/doc
