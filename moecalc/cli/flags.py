"""Every command-line option as a typer ``Annotated`` alias, made from its one declaration in
``moecalc.options`` (help, metavar, short aliases, help panel). A command lists the aliases it
takes; ``given(ctx)`` hands what was typed to the library's parsers.

Value options are declared ``multiple`` so that an option typed twice is an error
(``Given.command_line``) rather than silently the last one.
"""

from __future__ import annotations

from typing import Annotated, List, Optional

import typer

from moecalc.options import DECLARED, Given, flag

Values = Optional[List[str]]


def _option(name: str):
    f, group = DECLARED[name]
    extra = f.json_schema_extra
    return typer.Option(flag(name), *extra["aliases"], help=f.description, metavar=extra["metavar"],
                        rich_help_panel=group.panel, show_default=False)


def given(ctx: typer.Context) -> Given:
    """The options the user typed, by name (arguments are the command's own business)."""
    from typer.core import TyperArgument

    names = {p.name for p in ctx.command.params if not isinstance(p, TyperArgument)}
    return Given.command_line({k: v for k, v in ctx.params.items() if k in names})


Model = Annotated[str, typer.Argument(metavar="MODEL", show_default=False,
                                      help="YAML spec, config.json (or its folder), or a bundled model name")]

# Workload
Context = Annotated[Values, _option("context")]
Batch = Annotated[Values, _option("batch")]
WeightsDtype = Annotated[Values, _option("weights_dtype")]
KvDtype = Annotated[Values, _option("kv_dtype")]
# Deployment
Gpu = Annotated[Values, _option("gpu")]
Gpus = Annotated[Values, _option("gpus")]
GpusPerNode = Annotated[Values, _option("gpus_per_node")]
Tp = Annotated[Values, _option("tp")]
Ep = Annotated[Values, _option("ep")]
Dp = Annotated[Values, _option("dp")]
Pp = Annotated[Values, _option("pp")]
RedundantExperts = Annotated[Values, _option("redundant_experts")]
MaxNodesPerToken = Annotated[Values, _option("max_nodes_per_token")]
ScaleOut = Annotated[Values, _option("scale_out")]
PricePerHour = Annotated[Values, _option("price_per_hour")]
HardwareFile = Annotated[Values, _option("hardware_file")]
# Routing
Routing = Annotated[Values, _option("routing")]
CapacityFactor = Annotated[Values, _option("capacity_factor")]
Overflow = Annotated[Values, _option("overflow")]
Seed = Annotated[Values, _option("seed")]
Groups = Annotated[Values, _option("groups")]
# Assumptions
Assume = Annotated[Values, _option("assume")]
DispatchDtype = Annotated[Values, _option("dispatch_dtype")]
CombineDtype = Annotated[Values, _option("combine_dtype")]
LinkEfficiency = Annotated[Values, _option("link_efficiency")]
# Search (sweep)
Objective = Annotated[Values, _option("objective")]
MaxTpotMs = Annotated[Values, _option("max_tpot_ms")]
MaxTtftMs = Annotated[Values, _option("max_ttft_ms")]
MinTokensPerS = Annotated[Values, _option("min_tokens_per_s")]
BudgetUsdPerHour = Annotated[Values, _option("budget_usd_per_hour")]
Top = Annotated[Values, _option("top")]
# Output
FORMATS = ("table", "json", "csv")
Format = Annotated[Values, typer.Option("--format", "-f", metavar="FORMAT", rich_help_panel="Output",
                                        show_default=False, help="table (default), json or csv")]
Output = Annotated[Values, typer.Option("--output", "-o", metavar="FILE", rich_help_panel="Output",
                                        show_default=False, help="write to FILE (an existing one only with --force)")]
Force = Annotated[bool, typer.Option("--force", rich_help_panel="Output", help="replace --output if it exists")]


def output_format(g: Given, formats: tuple[str, ...] = FORMATS) -> str:
    from moecalc.errors import MoecalcError

    value = g.text("format", "table")
    if value not in formats:
        raise MoecalcError(f"must be one of {', '.join(formats)}, got {value!r}", field="--format")
    return value
