"""Section 9 of the pack: the model card — intended use, limitations, owners, version, config."""

from __future__ import annotations

from segml.report.absent import why_absent
from segml.report.context import ReportContext
from segml.report.figures import stage_chart
from segml.report.html import Finding, Section, bullets, details, esc, figure, figures, keyvalues

__all__ = ["model_card_section"]


def model_card_section(ctx: ReportContext) -> Section:
    """Who owns the model and what it is for (the run's ``report`` config), and what it is."""
    from segml.features.catalogue import FEATURES_VERSION

    run, reg, card = ctx.run, ctx.registry, ctx.card
    sec = Section("model-card", "Model card")
    tags, params = reg.parent_tags, reg.parent_params
    model = run.model or {}
    commit, dirty = tags.get("git_commit", "unknown"), tags.get("git_dirty", "unknown")
    owners = ", ".join(card.owners)
    if model:
        what = f"{model.get('name')} version {model.get('version')}, trained"
    else:
        what = f"no model was exported ({why_absent(run, 'export')}); the tiers were made"
    sec.reading.append(
        f"{card.title}: {what} by run {run.run_id} at as-of date "
        f"{run.run.get('as_of')} from commit {commit[:12]}"
        f"{' with uncommitted changes' if dirty == 'true' else ''}. "
        + (f"Owners: {owners}." if owners else "No owner is named.")
    )
    if not card.owners:
        sec.attention("the model card names no owner (set report.owners in the config)")
    if dirty == "true":
        sec.attention("the run was made from a checkout with uncommitted changes")
    elif dirty == "unknown":
        sec.findings.append(Finding("note", "the run's git commit is unknown (not a git checkout)"))
    policy = run.json("tier_policy") or {}
    packages = ", ".join(
        f"{k.removeprefix('version.')} {v}"
        for k, v in sorted(tags.items())
        if k.startswith("version.")
    )
    pairs = [
        ("model", f"{model['name']} version {model['version']}" if model else "none exported"),
        ("model URI", model.get("model_uri", "–")),
        ("aliases of this version", ", ".join(reg.this_aliases) or "none"),
        ("champion now", f"version {reg.champion_version}" if reg.champion_version else "none"),
        ("registered", reg.version_created or "–"),
        (
            "features version",
            reg.version_tags.get("features_version", f"{FEATURES_VERSION} (code)"),
        ),
        (
            "tier policy",
            reg.version_tags.get(
                "tier_policy", f"{policy.get('name', '?')} v{policy.get('version', '?')}"
            ),
        ),
        (
            "pipeline run",
            f"{run.run_id} (experiment {reg.experiment or '?'}, status {run.run.get('status')})",
        ),
        ("config", f"{run.config.get('name', '?')}, seed {run.config.get('seed', '?')}"),
        ("as-of date", run.run.get("as_of")),
        ("git commit", f"{commit} (uncommitted changes: {dirty})"),
        ("data fingerprint", params.get("data.fingerprint", "–")),
        ("packages", packages or "–"),
        ("tracking store", reg.uri),
        ("owners", owners or "not named"),
    ]
    sec.blocks.append(keyvalues(pairs, caption="Identity and provenance"))
    sec.blocks.append("<h3>Intended use</h3>" + f"<p>{esc(card.intended_use)}</p>")
    sec.blocks.append("<h3>Out of scope</h3>" + bullets(card.out_of_scope))
    sec.blocks.append("<h3>Limitations</h3>" + bullets(card.limitations))
    seconds = run.run.get("stage_seconds") or {}  # run.json keeps the order they ran in
    if seconds:
        sec.blocks.append(figures(figure(stage_chart(seconds), "Run time per pipeline stage")))
    if reg.error:
        sec.attention(f"the tracking store could not be read: {reg.error}")
        sec.blocks.append(f'<p class="note">Tracking store: {esc(reg.error)}</p>')
    sec.blocks.append(
        details(
            "Configuration of the run (config.yaml)",
            f"<pre>{esc(run.config_text or '(no config.yaml)')}</pre>",
        )
    )
    return sec
