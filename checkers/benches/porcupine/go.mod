module pbench

go 1.19

require github.com/anishathalye/porcupine v0.0.0

// No replace directive here: checkers/benches/lin_vs_porcupine.sh builds in a scratch copy
// and adds `replace github.com/anishathalye/porcupine => $PORCUPINE_DIR` there (Porcupine's
// sources are not vendored; see /work/shared/bench/porcupine/README.md or get them with
// `git clone https://github.com/anishathalye/porcupine`).
