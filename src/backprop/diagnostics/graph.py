"""``draw_graph``: the backward graph behind a tensor as Graphviz DOT text (and SVG/PNG with ``dot``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import warnings

__all__ = ["draw_graph"]


def _shape(shape) -> str:
    return str(tuple(int(s) for s in shape))


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def draw_graph(tensor, path: str | os.PathLike | None = None, model=None, params: dict | None = None, max_nodes: int = 2000) -> str:
    """Return the computation graph behind ``tensor`` as Graphviz DOT text.

    Nodes are the backward functions (``MulBackward0`` ...) with their output shapes; leaves
    that require grad are blue boxes (named after the parameter when ``model`` or
    ``params={name: tensor}`` is given); inputs that need no gradient are grey; edges carry
    the shape flowing along them. With ``path``: ``.dot``/``.gv`` gets the text; ``.svg``,
    ``.png`` or ``.pdf`` is rendered by Graphviz's ``dot`` when it is installed, otherwise the
    text is written next to it as ``<path>.dot`` with a warning.
    """
    names: dict[int, str] = {}
    if model is not None:
        names.update({id(p): n for n, p in model.named_parameters()})
    if params:
        names.update({id(p): n for n, p in params.items()})

    lines = [
        "digraph backprop {",
        '  graph [rankdir=BT, fontname="Helvetica"];',
        '  node [shape=box, style="rounded,filled", fillcolor="#eeeeee", fontname="Helvetica", fontsize=11];',
        '  edge [fontname="Helvetica", fontsize=9];',
    ]
    ids: dict[int, str] = {}
    counter = [0]

    def new_id() -> str:
        counter[0] += 1
        return f"n{counter[0]}"

    out_id = new_id()
    grad_note = "requires_grad" if tensor.requires_grad else "no grad"
    lines.append(f'  {out_id} [label={_quote(f"output {_shape(tensor.shape)}" + chr(10) + grad_note)}, fillcolor="#c8e6c9"];')

    def leaf_label(var) -> str:
        name = names.get(id(var))
        return f"{name}\n{_shape(var.shape)}" if name else f"leaf {_shape(var.shape)}\nrequires_grad"

    root = tensor.grad_fn
    if root is None:
        if tensor.requires_grad:
            lines[-1] = f'  {out_id} [label={_quote(leaf_label(tensor))}, fillcolor="#bbdefb"];'
        lines.append("}")
        return _finish("\n".join(lines) + "\n", path)

    stack = [root]
    ids[id(root)] = new_id()
    lines.append(f"  {ids[id(root)]} -> {out_id} [label={_quote(_shape(tensor.shape))}];")
    seen = 0
    while stack:
        node = stack.pop()
        nid = ids[id(node)]
        seen += 1
        if seen > max_nodes:
            lines.append(f'  {new_id()} [label="... (more than {max_nodes} nodes)", shape=plaintext];')
            break
        variable = getattr(node, "variable", None)
        if variable is not None:  # AccumulateGrad: a leaf that requires grad
            lines.append(f'  {nid} [label={_quote(leaf_label(variable))}, fillcolor="#bbdefb"];')
            continue
        out_meta = getattr(node, "_output_meta", None) or ()
        shapes = [_shape(m[0]) for m in out_meta if m is not None]
        label = node.name() + ("\n" + ", ".join(shapes) if shapes else "")
        lines.append(f"  {nid} [label={_quote(label)}];")
        edges = getattr(node, "_edges", ())
        in_meta = getattr(node, "_input_meta", None) or (None,) * len(edges)
        for (child, _nr), meta in zip(edges, in_meta):
            if meta is None:  # a non-tensor argument
                continue
            shape = _shape(meta[0])
            if child is None:  # a tensor input that needs no gradient
                cid = new_id()
                lines.append(f'  {cid} [label={_quote("input " + shape + chr(10) + "no grad")}, fillcolor="#ffffff", style="rounded,dashed"];')
                lines.append(f'  {cid} -> {nid} [label={_quote(shape)}, style=dashed];')
                continue
            cid = ids.get(id(child))
            if cid is None:
                cid = ids[id(child)] = new_id()
                stack.append(child)
            lines.append(f"  {cid} -> {nid} [label={_quote(shape)}];")
    lines.append("}")
    return _finish("\n".join(lines) + "\n", path)


def _finish(dot: str, path) -> str:
    if path is None:
        return dot
    path = os.fspath(path)
    fmt = os.path.splitext(path)[1].lower().lstrip(".")
    if fmt in ("", "dot", "gv"):
        with open(path, "w") as fh:
            fh.write(dot)
        return dot
    exe = shutil.which("dot")
    if exe is not None:
        subprocess.run([exe, f"-T{fmt}", "-o", path], input=dot.encode(), check=True, capture_output=True)
        return dot
    fallback = path + ".dot"
    with open(fallback, "w") as fh:
        fh.write(dot)
    warnings.warn(f"Graphviz 'dot' is not installed: wrote the DOT text to {fallback} instead of rendering {path}", RuntimeWarning, stacklevel=3)
    return dot
