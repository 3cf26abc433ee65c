// Command pbench checks Gauntlet JSONL register histories with Porcupine
// (github.com/anishathalye/porcupine), for the side-by-side benchmark in
// checkers/benches/lin_vs_porcupine.sh (docs/performance-lin.md).
//
//	pbench [-init JSON] FILE...
//
// Prints one line per file, "FILE<TAB>VERDICT<TAB>WALL<TAB>CPU<TAB>-" (VERDICT: valid,
// invalid or unknown, as Gauntlet says it; seconds; CPU: the time all the process's threads
// spent on a CPU, from /proc/self/task/*/schedstat, as gauntlet-linbench measures it), then
// "total<TAB>-<TAB>WALL<TAB>CPU<TAB>-". Only the check is timed: the file is read and
// converted before the clock starts. No timeout.
//
// The model is Gauntlet's cas-register (checkers/src/linearizable/models/register.rs) with
// Jepsen's semantics as in checkers/src/linearizable/history.rs:
//   - an invoke is paired with the next completion of the same process;
//   - a fail did not happen: dropped;
//   - an info (or an invoke still open at the end) may take effect at any time after its
//     call, or never: its return is at +infinity (Porcupine must linearize every op, and an
//     info write or cas linearized after everything else changes nothing that is observed, so
//     this is "or never"); an info read is dropped;
//   - a read whose ok value has no "value" field is dropped;
//   - cas ok with "swapped": false: the comparison failed (the state was not "from").
//
// Values are compared by their canonical JSON text, interned to ints (as Gauntlet interns
// them), so the model's state is one int and Porcupine gets a Hash for it.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

type line struct {
	Process json.RawMessage `json:"process"`
	Type    string          `json:"type"`
	F       string          `json:"f"`
	Value   json.RawMessage `json:"value"`
}

const (
	opRead = iota
	opWrite
	opCas
)

type input struct {
	key  string
	kind int
	a, b int // write: a; cas: from a, to b
}

type output struct {
	value   int  // read: the value seen
	swapped bool // cas
	known   bool // false: info (outcome unknown)
}

type interner map[string]int

func (in interner) id(raw json.RawMessage) int {
	var v interface{}
	if err := json.Unmarshal(raw, &v); err != nil {
		return in.text(string(raw))
	}
	// Canonical text: encoding/json sorts object keys.
	b, _ := json.Marshal(v)
	return in.text(string(b))
}

func (in interner) text(s string) int {
	if id, ok := in[s]; ok {
		return id
	}
	id := len(in)
	in[s] = id
	return id
}

func field(raw json.RawMessage, name string) (json.RawMessage, bool) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return raw, true // a bare value is the value itself
	}
	v, ok := obj[name]
	return v, ok
}

func keyOf(inv, ok json.RawMessage) string {
	for _, raw := range []json.RawMessage{inv, ok} {
		var obj map[string]json.RawMessage
		if raw != nil && json.Unmarshal(raw, &obj) == nil {
			if k, has := obj["key"]; has {
				return string(k)
			}
		}
	}
	return ""
}

type pending struct {
	at int64
	l  line
}

// load reads a history file into Porcupine operations (positions are the times, as in
// Gauntlet: the order ops were recorded in).
func load(path string, values interner) ([]porcupine.Operation, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<30)
	open := map[string]pending{}
	var ops []porcupine.Operation
	add := func(inv pending, done *line, ret int64) error {
		var in input
		var out output
		in.key = keyOf(inv.l.Value, nil)
		known := done != nil && done.Type == "ok"
		if done != nil && done.Value != nil && in.key == "" {
			in.key = keyOf(inv.l.Value, done.Value)
		}
		switch inv.l.F {
		case "read":
			if !known {
				return nil
			}
			v, has := field(done.Value, "value")
			if !has {
				return nil
			}
			in.kind, out.value = opRead, values.id(v)
		case "write":
			v, has := field(inv.l.Value, "value")
			if !has {
				return fmt.Errorf("a write without a value")
			}
			in.kind, in.a = opWrite, values.id(v)
		case "cas":
			var arr []json.RawMessage
			from, okf := field(inv.l.Value, "from")
			to, okt := field(inv.l.Value, "to")
			if json.Unmarshal(inv.l.Value, &arr) == nil && len(arr) == 2 {
				from, to, okf, okt = arr[0], arr[1], true, true
			}
			if !okf || !okt {
				return fmt.Errorf("a cas without from/to")
			}
			in.kind, in.a, in.b = opCas, values.id(from), values.id(to)
			out.swapped = true
			if known {
				if s, has := field(done.Value, "swapped"); has && string(s) == "false" {
					out.swapped = false
				}
			}
		default:
			return fmt.Errorf("f %q is not a cas-register op", inv.l.F)
		}
		out.known = known
		r := int64(math.MaxInt64)
		if known {
			r = ret
		}
		ops = append(ops, porcupine.Operation{Input: in, Call: inv.at, Output: out, Return: r})
		return nil
	}
	var pos int64
	for sc.Scan() {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var l line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return nil, fmt.Errorf("%s: line %d: %v", path, pos+1, err)
		}
		p := string(l.Process)
		if p == `"nemesis"` {
			pos++
			continue
		}
		if l.Type == "invoke" {
			open[p] = pending{pos, l}
		} else {
			inv, ok := open[p]
			if !ok {
				return nil, fmt.Errorf("%s: line %d: completion without invoke", path, pos+1)
			}
			delete(open, p)
			if l.Type != "fail" {
				done := l
				if err := add(inv, &done, pos); err != nil {
					return nil, fmt.Errorf("%s: line %d: %v", path, pos+1, err)
				}
			}
		}
		pos++
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	rest := make([]pending, 0, len(open))
	for _, p := range open {
		rest = append(rest, p)
	}
	sort.Slice(rest, func(i, j int) bool { return rest[i].at < rest[j].at })
	for _, p := range rest {
		if err := add(p, nil, 0); err != nil {
			return nil, err
		}
	}
	return ops, nil
}

func model(init int) porcupine.Model {
	return porcupine.Model{
		Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
			byKey := map[string][]porcupine.Operation{}
			var keys []string
			for _, op := range history {
				k := op.Input.(input).key
				if _, ok := byKey[k]; !ok {
					keys = append(keys, k)
				}
				byKey[k] = append(byKey[k], op)
			}
			sort.Strings(keys)
			out := make([][]porcupine.Operation, 0, len(keys))
			for _, k := range keys {
				out = append(out, byKey[k])
			}
			return out
		},
		Init: func() interface{} { return init },
		Step: func(state, in, out interface{}) (bool, interface{}) {
			s, i, o := state.(int), in.(input), out.(output)
			switch i.kind {
			case opRead:
				return s == o.value, s
			case opWrite:
				return true, i.a
			default:
				if !o.known {
					if s == i.a {
						return true, i.b
					}
					return true, s
				}
				if o.swapped {
					return s == i.a, i.b
				}
				return s != i.a, s
			}
		},
		Equal: func(a, b interface{}) bool { return a.(int) == b.(int) },
		Hash: func(s interface{}) uint64 {
			z := uint64(s.(int)) + 0x9e3779b97f4a7c15
			z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
			z = (z ^ (z >> 27)) * 0x94d049bb133111eb
			return z ^ (z >> 31)
		},
	}
}

// cpuTime is the time all threads of this process spent on a CPU so far.
func cpuTime() time.Duration {
	stats, _ := filepath.Glob("/proc/self/task/*/schedstat")
	var ns int64
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if f := strings.Fields(string(b)); len(f) > 0 {
			n, _ := strconv.ParseInt(f[0], 10, 64)
			ns += n
		}
	}
	return time.Duration(ns)
}

func main() {
	initText := flag.String("init", "0", "the registers' initial value (JSON)")
	flag.Parse()
	var total, totalCPU time.Duration
	for _, path := range flag.Args() {
		values := interner{}
		init := values.id(json.RawMessage(*initText))
		ops, err := load(path, values)
		if err != nil {
			fmt.Fprintf(os.Stderr, "pbench: %s: %v\n", path, err)
			os.Exit(254)
		}
		m := model(init)
		start, cpu0 := time.Now(), cpuTime()
		res := porcupine.CheckOperationsTimeout(m, ops, 0)
		took, cpu := time.Since(start), cpuTime()-cpu0
		total += took
		totalCPU += cpu
		verdict := map[porcupine.CheckResult]string{
			porcupine.Ok: "valid", porcupine.Illegal: "invalid", porcupine.Unknown: "unknown",
		}[res]
		fmt.Printf("%s\t%s\t%.6f\t%.6f\t-\n", path, verdict, took.Seconds(), cpu.Seconds())
	}
	fmt.Printf("total\t-\t%.6f\t%.6f\t-\n", total.Seconds(), totalCPU.Seconds())
}
