"""Validates rendered Kubernetes manifests, strictly (an unknown field is an error).

Built-in kinds are checked against Kubernetes' own OpenAPI schemas (the kubernetes-validate
package carries them). Custom resources (PodMonitor, PrometheusRule, ScaledObject, ...) are
checked against the openAPIV3Schema of their operator's CRD, given as files with --crd; an
object whose kind no schema covers is an error, never a warning. Duplicate mapping keys are
errors too (YAML keeps the last one silently).

    python validate-k8s.py --kube-version 1.31.0 --crd crds/*.yaml manifests.yaml
"""

import argparse
import copy
import re
import sys

import jsonschema
import kubernetes_validate
import yaml


class StrictLoader(yaml.SafeLoader):
    pass


def _mapping(loader, node, deep=False):
    keys = [loader.construct_object(k, deep=True) for k, _ in node.value]
    dupes = sorted({str(k) for k in keys if keys.count(k) > 1})
    if dupes:
        raise yaml.constructor.ConstructorError(None, None, f"duplicate keys {dupes}", node.start_mark)
    return yaml.SafeLoader.construct_mapping(loader, node, deep)


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def python_regex(pattern):
    """A CRD's pattern (Go's RE2 syntax) as Python's re takes it: RE2 allows inline flags such as
    `(?i)` anywhere, Python only at the start (the PrometheusRule CRD has `^(?i)(abort|warn)?$`).
    Moving a leading-anchor's flags to the front keeps the meaning."""
    m = re.match(r"^\^\(\?([a-zA-Z]+)\)", pattern)
    return f"(?{m.group(1)})^{pattern[m.end():]}" if m else pattern


def closed(schema):
    """The schema with every object that lists its properties closed to others, as the API
    server's strict field validation treats them (unless it preserves unknown fields)."""
    s = copy.deepcopy(schema)

    def walk(node):
        if isinstance(node, dict):
            if (
                node.get("type") == "object"
                and "properties" in node
                and "additionalProperties" not in node
                and not node.get("x-kubernetes-preserve-unknown-fields")
            ):
                node["additionalProperties"] = False
            pattern = node.get("pattern")
            if isinstance(pattern, str):
                node["pattern"] = python_regex(pattern)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(s)
    # apiVersion, kind and metadata are the API server's, not the CRD's, to check
    props = s.setdefault("properties", {})
    for k in ("apiVersion", "kind"):
        props.setdefault(k, {"type": "string"})
    props["metadata"] = {"type": "object"}
    return s


def load_crds(paths):
    schemas = {}
    for path in paths:
        with open(path) as f:
            for crd in yaml.safe_load_all(f):
                if not crd or crd.get("kind") != "CustomResourceDefinition":
                    continue
                group = crd["spec"]["group"]
                kind = crd["spec"]["names"]["kind"]
                for v in crd["spec"]["versions"]:
                    schema = v.get("schema", {}).get("openAPIV3Schema")
                    if schema and v.get("served", True):
                        schemas[(f"{group}/{v['name']}", kind)] = closed(schema)
    return schemas


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kube-version", required=True)
    ap.add_argument("--crd", action="append", default=[])
    ap.add_argument("manifests", nargs="+")
    args = ap.parse_args()
    crds = load_crds(args.crd)
    errors = []
    checked = 0
    for path in args.manifests:
        with open(path) as f:
            try:
                docs = [d for d in yaml.load_all(f, Loader=StrictLoader) if d]
            except yaml.YAMLError as e:
                print(f"ERROR {path}: {e}")
                return 1
        for doc in docs:
            name = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
            key = (doc.get("apiVersion"), doc.get("kind"))
            try:
                if key in crds:
                    jsonschema.validate(doc, crds[key])
                else:
                    kubernetes_validate.validate(doc, args.kube_version, strict=True)
                checked += 1
            except jsonschema.ValidationError as e:
                path_ = ".".join(str(p) for p in e.absolute_path)
                errors.append(f"{name}: {path_}: {e.message}")
            except kubernetes_validate.ValidationError as e:
                path_ = ".".join(str(p) for p in e.path)
                errors.append(f"{name}: {path_}: {e.message}")
            except kubernetes_validate.SchemaNotFoundError:
                errors.append(f"{name}: no schema for {key[0]} {key[1]} (give its CRD with --crd)")
    for e in errors:
        print(f"ERROR {e}")
    print(f"{checked} objects valid, {len(errors)} invalid")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
