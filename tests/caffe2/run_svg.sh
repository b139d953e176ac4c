#!/bin/sh
# run_svg.sh: kiln --emit=svg draws the graph: the file must parse as SVG (XML with an <svg>
# root) and its text must name every op of the module's IR (kiln --emit=ir), as many times
# as the IR has it, and every model input and output; --emit=dot must write the same graph
# as DOT text that Graphviz's own `dot` accepts.
#
# usage: run_svg.sh KILN_BIN MODEL.pt SHAPE WORKDIR
set -u
[ $# -eq 4 ] || { sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
kiln=$1 model=$2 shape=$3 work=$4
py=${KILN_PYTHON:-/usr/bin/python3}
die() { echo "run_svg.sh: FAIL: $*" >&2; exit 1; }
rm -rf "$work" && mkdir -p "$work" || die "cannot create $work"
"$kiln" "$model" --input-shape "$shape" --emit=svg -o "$work/m.svg" || die "kiln --emit=svg"
"$kiln" "$model" --input-shape "$shape" --emit=dot -o "$work/m.dot" || die "kiln --emit=dot"
"$kiln" "$model" --input-shape "$shape" --emit=ir -o "$work/m.kir" || die "kiln --emit=ir"
dot -Tsvg "$work/m.dot" -o "$work/dot.svg" || die "Graphviz's dot rejects the DOT text"
"$py" - "$work/m.svg" "$work/m.kir" <<'PYEOF' || die "the SVG check failed"
import collections, re, sys
import xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == "{http://www.w3.org/2000/svg}svg", "root element is %s, not svg" % root.tag
texts = collections.Counter(t.text.strip() for t in root.iter("{http://www.w3.org/2000/svg}text")
                            if t.text)
ir = open(sys.argv[2]).read()
ops = collections.Counter(re.findall(r"^\s+%[\d, %]+ = ([a-z_0-9]+)\(", ir, re.M))
ops.pop("const", None)
assert ops, "no ops in the IR"
for op, n in sorted(ops.items()):
    assert texts[op] >= n, "op '%s' appears %d times in the IR, %d in the SVG" % (op, n, texts[op])
for name in re.findall(r'\{name="([^"]+)", input=', ir):
    assert texts[name] >= 1, "model input '%s' is not in the SVG" % name
print("run_svg.sh: PASS: %d ops (%s) named in %s" % (sum(ops.values()),
      ", ".join("%s x%d" % kv for kv in sorted(ops.items())), sys.argv[1]))
PYEOF
