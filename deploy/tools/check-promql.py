"""Checks PromQL expressions (a dashboard's, alert rules') against what processes expose.

Each expression is parsed by a real PromQL parser (promql-parser, the Python binding of the
Rust crate GreptimeDB uses); a syntax error is a problem. Then every metric it selects must be
exposed (a sample of that name in one of the expositions given), and every label it names (in
a matcher, a `by`/`without` grouping, an `on`/`ignoring`/`group_*` clause) must be a label of
some sample of the metrics it covers, or one Prometheus adds when it scrapes (job, instance,
and Kubernetes' namespace, pod, container, service, endpoint), or `le` on a histogram bucket.

    python check-promql.py --exposition gateway.txt --exposition stages.txt expressions.json

expressions.json: [{"source": "dashboard: Throughput", "expr": "..."}]. Prints one line per
problem and a summary; exits 1 when there is a problem.
"""

import argparse
import json
import re
import sys

import promql_parser as pq

SCRAPE_LABELS = {"job", "instance", "namespace", "pod", "container", "service", "endpoint"}
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+\S+")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="(?:[^"\\]|\\.)*"')


def read_expositions(files):
    """sample name -> the label names its samples carry (union over every exposition)"""
    labels = {}
    for f in files:
        with open(f, encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("#") or not line.strip():
                    continue
                m = SAMPLE.match(line)
                if not m:
                    continue
                names = labels.setdefault(m.group(1), set())
                if m.group(3):
                    names.update(LABEL.findall(m.group(3)))
    return labels


class Checker:
    def __init__(self, exposed):
        self.exposed = exposed
        self.problems = []
        self.metrics = set()
        self.labels = 0

    def selector_metrics(self, node):
        """the metric names the selectors under `node` select"""
        out = []

        def visit(n):
            if isinstance(n, pq.VectorSelector):
                name = n.name or next((m.value for m in n.matchers.matchers if m.name == "__name__"), None)
                if name:
                    out.append(name)
            for child in children(n):
                visit(child)

        visit(node)
        return out

    def known_labels(self, metrics):
        known = set(SCRAPE_LABELS)
        for name in metrics:
            known |= self.exposed.get(name, set())
            if name.endswith("_bucket"):
                known.add("le")
        return known

    def need_labels(self, source, where, names, metrics):
        known = self.known_labels(metrics)
        for label in names:
            self.labels += 1
            if label not in known:
                self.problems.append(
                    f"{source}: label {label!r} ({where}) is on none of {sorted(set(metrics))} as exposed"
                )

    def check(self, source, expr):
        try:
            ast = pq.parse(expr)
        except Exception as e:  # the parser's own message says where
            self.problems.append(f"{source}: does not parse: {e}")
            return

        def visit(n):
            if isinstance(n, pq.VectorSelector):
                metrics = self.selector_metrics(n)
                for name in metrics:
                    self.metrics.add(name)
                    if name not in self.exposed:
                        self.problems.append(f"{source}: metric {name!r} is not exposed")
                matchers = [m.name for m in n.matchers.matchers if m.name != "__name__"]
                for group in n.matchers.or_matchers or []:
                    matchers += [m.name for m in group if m.name != "__name__"]
                self.need_labels(source, "matcher", matchers, metrics)
            elif isinstance(n, pq.AggregateExpr) and n.modifier is not None:
                self.need_labels(source, "grouping", list(n.modifier.labels), self.selector_metrics(n.expr))
            elif isinstance(n, pq.BinaryExpr) and n.modifier is not None:
                metrics = self.selector_metrics(n.lhs) + self.selector_metrics(n.rhs)
                if n.modifier.matching is not None:
                    self.need_labels(source, "vector matching", list(n.modifier.matching.labels), metrics)
                if n.modifier.card in (pq.VectorMatchCardinality.ManyToOne, pq.VectorMatchCardinality.OneToMany):
                    self.need_labels(source, "group modifier", list(n.modifier.group_labels or []), metrics)
            for child in children(n):
                visit(child)

        visit(ast)


def children(n):
    if isinstance(n, pq.MatrixSelector):
        return [n.vector_selector]
    if isinstance(n, pq.Call):
        return list(n.args)
    if isinstance(n, pq.AggregateExpr):
        return [n.expr] + ([n.param] if n.param is not None else [])
    if isinstance(n, pq.BinaryExpr):
        return [n.lhs, n.rhs]
    if isinstance(n, (pq.ParenExpr, pq.SubqueryExpr, pq.UnaryExpr)):
        return [n.expr]
    return []


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--exposition", action="append", default=[])
    ap.add_argument("expressions")
    args = ap.parse_args()
    with open(args.expressions, encoding="utf-8") as fh:
        expressions = json.load(fh)
    checker = Checker(read_expositions(args.exposition))
    for e in expressions:
        checker.check(e["source"], e["expr"])
    for p in checker.problems:
        print(p)
    print(
        f"{len(expressions)} expressions parsed, {len(checker.metrics)} metrics and "
        f"{checker.labels} label uses checked, {len(checker.problems)} problems"
    )
    sys.exit(1 if checker.problems else 0)


if __name__ == "__main__":
    main()
