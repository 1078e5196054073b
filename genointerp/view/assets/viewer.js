/* genointerp viewer: an igv.js browser of a run's exported tracks and an explorer of its
 * feature catalog.  Reads window.GENOINTERP_DATA (data.js, written by genointerp.view).
 *
 * URL query parameters:
 *   locus=chr:start-end   start there (default: the export's default locus)
 *   features=17,42        load these features' tracks; the first is selected
 *   tracks=id1,id2        also load these tracks (ids from tracks.json)
 *   explorer=0            the browser alone (as in a notebook cell)
 *   flank=50              half-width (nt) of the window shown around a site
 *
 * For tests and scripts: window.genointerpReady turns true once the browser and its
 * first tracks have loaded; window.genointerp has {browser, select(feature), errors, ...}.
 */
(function () {
  "use strict";

  const DATA = window.GENOINTERP_DATA;
  const params = new URLSearchParams(window.location.search);
  const FLANK = Math.max(10, parseInt(params.get("flank") || "50", 10) || 50);
  const PAGE_SIZE = 50;
  const CLASS_ORDER = ["known", "candidate_novel", "uncharacterised", "dense", "dead"];
  const CLASS_LABEL = {
    known: "known",
    candidate_novel: "candidate novel",
    uncharacterised: "uncharacterised",
    dense: "dense",
    dead: "dead",
  };
  const FOCUS_CLASSES = ["known", "candidate_novel"];
  const DEFAULT_LANES = ["gene", "cds", "trna", "rrna", "ncrna", "promoter"];
  const MAX_LANES = 5;

  const api = {
    ready: false, idle: true, selected: null, errors: [], browser: null, select: select,
    loaded: new Map(),
  };
  window.genointerp = api;
  window.genointerpReady = false;

  const $ = (id) => document.getElementById(id);
  const state = {
    rows: [],
    view: [],
    sortKey: "test_element_f1",
    sortDir: -1,
    page: 0,
    classes: new Set(),
    text: "",
    tracksOnly: false,
    selected: null,
    auto: [],  // tracks loaded by selecting a feature, replaced by the next selection
  };

  // ---------------------------------------------------------------- formatting
  function esc(value) {
    return String(value).replace(/[&<>"']/g, (c) => ({
      "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;",
    })[c]);
  }
  const missing = '<span class="gi-none">&ndash;</span>';
  function fixed(digits) {
    return (v) => (v === null || v === undefined ? missing : Number(v).toFixed(digits));
  }
  function sci(v) {
    if (v === null || v === undefined) return missing;
    if (v === 0) return "0";
    return v >= 0.001 ? Number(v).toPrecision(2) : Number(v).toExponential(1);
  }
  function percent(v) {
    if (v === null || v === undefined) return missing;
    const p = 100 * v;
    return (p >= 10 ? p.toFixed(0) : p >= 1 ? p.toFixed(1) : p.toPrecision(2)) + "%";
  }
  function general(v) {
    if (v === null || v === undefined) return missing;
    return typeof v === "number" ? String(Number(v.toPrecision(3))) : esc(v);
  }
  function nt(v) {
    return v === null || v === undefined ? missing : Math.round(v).toLocaleString() + " nt";
  }
  function badge(cls) {
    if (!cls) return missing;
    return `<span class="gi-badge ${esc(cls)}">${esc(CLASS_LABEL[cls] || cls)}</span>`;
  }
  function rgb(color) {
    if (!color) return undefined;
    return /^\d+,\d+,\d+$/.test(color) ? `rgb(${color})` : color;
  }

  const TABLE = [
    { key: "feature", label: "Feature", cell: featureCell },
    { key: "class", label: "Class", cell: (r) => badge(r.class) },
    { key: "best_concept", label: "Best concept", cell: (r) => general(r.best_concept) },
    {
      key: "family", label: "Family", num: true, cell: familyCell,
      title: "feature family (features that fire together); * marks the family's best member",
    },
    {
      key: "test_element_f1", label: "Held-out F1", num: true, cell: (r) => fixed(3)(r.test_element_f1),
      title: "element-F1 on the held-out test blocks, at the threshold chosen on validation",
    },
    { key: "q_value", label: "q", num: true, cell: (r) => sci(r.q_value), title: "BH-adjusted p-value" },
    { key: "novelty", label: "Novelty", num: true, cell: (r) => fixed(2)(r.novelty) },
    {
      key: "density", label: "Density", num: true, cell: (r) => percent(r.density),
      title: "fraction of positions where the feature is active",
    },
    { key: "logo", label: "Logo", sortable: false, cell: logoCell },
  ];

  function featureCell(r) {
    const mark = r.tracks ? '<span class="gi-has-tracks" title="tracks exported">&#9679;</span>' : "";
    return `<span class="gi-fid">${r.feature}</span>${mark}`;
  }
  function logoCell(r) {
    const url = DATA.logos[String(r.feature)];
    return url ? `<img class="gi-thumb" loading="lazy" alt="logo of feature ${r.feature}" src="${esc(url)}">` : missing;
  }

  // --------------------------------------------------------------------- table
  function initTable() {
    state.rows = DATA.rows.map((row) => {
      const out = {};
      DATA.columns.forEach((c, i) => { out[c] = row[i]; });
      return out;
    });
    const counts = {};
    state.rows.forEach((r) => { counts[r.class] = (counts[r.class] || 0) + 1; });
    const classes = Object.keys(counts).sort(
      (a, b) => rank(CLASS_ORDER, a) - rank(CLASS_ORDER, b) || a.localeCompare(b));
    const focus = classes.filter((c) => FOCUS_CLASSES.includes(c));
    (focus.length ? focus : classes).forEach((c) => state.classes.add(c));
    $("gi-classes").innerHTML = classes.map((c) => {
      const colour = `var(--${CLASS_LABEL[c] ? c : "uncharacterised"})`;
      return `<button type="button" class="gi-chip" data-class="${esc(c)}" aria-pressed="${state.classes.has(c)}">` +
        `<span class="gi-dot" style="background:${colour}"></span>${esc(CLASS_LABEL[c] || c)} ` +
        `<span>${counts[c].toLocaleString()}</span></button>`;
    }).join("");
    $("gi-classes").addEventListener("click", (event) => {
      const chip = event.target.closest(".gi-chip");
      if (!chip) return;
      const cls = chip.dataset.class;
      if (state.classes.has(cls)) state.classes.delete(cls); else state.classes.add(cls);
      chip.setAttribute("aria-pressed", String(state.classes.has(cls)));
      refresh(true);
    });
    $("gi-search").addEventListener("input", (event) => {
      state.text = event.target.value.trim().toLowerCase();
      refresh(true);
    });
    $("gi-tracks-only").addEventListener("change", (event) => {
      state.tracksOnly = event.target.checked;
      refresh(true);
    });
    $("gi-prev").addEventListener("click", () => { state.page -= 1; render(); });
    $("gi-next").addEventListener("click", () => { state.page += 1; render(); });
    $("gi-table").querySelector("thead").addEventListener("click", (event) => {
      const th = event.target.closest("th.gi-sortable");
      if (!th) return;
      const key = th.dataset.key;
      state.sortDir = state.sortKey === key ? -state.sortDir : (key === "feature" || key === "family" || key === "best_concept" || key === "q_value" ? 1 : -1);
      state.sortKey = key;
      refresh(false);
    });
    $("gi-table").querySelector("tbody").addEventListener("click", (event) => {
      const tr = event.target.closest("tr[data-feature]");
      if (tr) select(Number(tr.dataset.feature));
    });
    refresh(true);
  }

  function rank(order, value) {
    const i = order.indexOf(value);
    return i < 0 ? order.length : i;
  }

  function matches(r) {
    if (!state.classes.has(r.class)) return false;
    if (state.tracksOnly && !r.tracks) return false;
    if (!state.text) return true;
    const hay = [r.class, CLASS_LABEL[r.class], r.best_concept, r.shape, r.jaspar_id, r.jaspar_name]
      .filter(Boolean).join(" ").toLowerCase();
    // a number (or f<number>) is a feature id, matched exactly; other words anywhere
    return state.text.split(/\s+/).every((word) => {
      const id = /^f?(\d+)$/.exec(word);
      return id ? Number(id[1]) === r.feature : hay.includes(word);
    });
  }

  function compare(a, b) {
    const key = state.sortKey;
    const x = key === "class" ? rank(CLASS_ORDER, a.class) : a[key];
    const y = key === "class" ? rank(CLASS_ORDER, b.class) : b[key];
    const xMissing = x === null || x === undefined;
    const yMissing = y === null || y === undefined;
    if (xMissing || yMissing) return xMissing - yMissing || a.feature - b.feature;  // missing last
    const order = typeof x === "string" ? x.localeCompare(y) : x - y;
    return state.sortDir * order || a.feature - b.feature;
  }

  function refresh(resetPage) {
    state.view = state.rows.filter(matches).sort(compare);
    if (resetPage) state.page = 0;
    render();
  }

  function render() {
    const pages = Math.max(1, Math.ceil(state.view.length / PAGE_SIZE));
    state.page = Math.min(Math.max(state.page, 0), pages - 1);
    const head = TABLE.map((c) => {
      const sortable = c.sortable !== false;
      const arrow = state.sortKey === c.key ? `<span class="gi-arrow">${state.sortDir > 0 ? " &#9650;" : " &#9660;"}</span>` : "";
      const cls = [sortable ? "gi-sortable" : "", c.num ? "gi-num" : ""].join(" ");
      const title = c.title ? ` title="${esc(c.title)}"` : "";
      return `<th class="${cls}" data-key="${c.key}"${title}>${esc(c.label)}${arrow}</th>`;
    }).join("");
    $("gi-table").querySelector("thead").innerHTML = `<tr>${head}</tr>`;
    const slice = state.view.slice(state.page * PAGE_SIZE, (state.page + 1) * PAGE_SIZE);
    const body = slice.map((r) => {
      const cells = TABLE.map((c) => {
        const cls = [c.num ? "gi-num" : "", c.key === "logo" ? "gi-logo-cell" : ""].join(" ");
        return `<td class="${cls}">${c.cell(r)}</td>`;
      }).join("");
      const selected = r.feature === state.selected ? ' class="gi-selected"' : "";
      return `<tr data-feature="${r.feature}"${selected}>${cells}</tr>`;
    }).join("");
    $("gi-table").querySelector("tbody").innerHTML = body ||
      `<tr><td class="gi-empty" colspan="${TABLE.length}">No feature matches the filters.</td></tr>`;
    $("gi-count").textContent =
      `${state.view.length.toLocaleString()} of ${state.rows.length.toLocaleString()} features`;
    $("gi-page").textContent = `page ${state.page + 1} of ${pages}`;
    $("gi-prev").disabled = state.page === 0;
    $("gi-next").disabled = state.page >= pages - 1;
  }

  // ------------------------------------------------------------------ evidence
  function rowOf(feature) {
    return state.rows.find((r) => r.feature === feature) || { feature: feature };
  }

  function familyCell(r) {
    if (r.family == null || r.family < 0) return missing;
    return `${r.family}${r.family_best ? "*" : ""}`;
  }

  function renderEvidence(feature) {
    const r = rowOf(feature);
    const sites = DATA.sites[String(feature)] || [];
    const logo = DATA.logos[String(feature)];
    const items = [
      ["held-out F1", fixed(3)(r.test_element_f1)], ["validation F1", fixed(3)(r.val_element_f1)],
      ["precision", fixed(3)(r.test_precision)], ["recall", fixed(3)(r.test_element_recall)],
      ["AUROC", fixed(3)(r.test_auroc)], ["q", sci(r.q_value)],
      ["density", percent(r.density)], ["threshold", general(r.threshold)],
      ["shape", general(r.shape)], ["motif IC", fixed(2)(r.motif_ic)],
      ["reproducibility", fixed(2)(r.reproducibility)], ["novelty", fixed(2)(r.novelty)],
      ["enrichment", r.enrich_best == null ? missing : `${Number(r.enrich_best).toFixed(1)}&times;`],
      ["median distance", nt(r.median_dist_best)],
      ["strand bias", fixed(2)(r.strand_bias)], ["mean run", general(r.mean_run)],
    ];
    const kv = items.map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join("");
    const jaspar = r.jaspar_id
      ? `<b>${esc(r.jaspar_name || "")}</b> (${esc(r.jaspar_id)}), p ${sci(r.jaspar_p)}, q ${sci(r.jaspar_q)}`
      : '<span class="gi-hint">no match</span>';
    const oneContig = DATA.genome.contigs.length === 1;
    const siteRows = sites.map((s, i) => {
      const [contig, start, , strand, activation, context] = s;
      const where = (oneContig ? "" : `${esc(contig)}:`) + (start + 1).toLocaleString();
      return `<tr data-site="${i}"><td>${i + 1}</td><td><a data-site="${i}" title="${esc(contig)}:${start + 1}">${where}</a></td>` +
        `<td>${esc(strand)}</td><td>${general(activation)}</td><td class="gi-seq">${sequence(context)}</td></tr>`;
    }).join("");
    const hasTracks = DATA.tracks.some((t) => t.feature === feature);
    const noTracks = '<p class="gi-hint">Its tracks were not exported. Fix: list it in ' +
      `<code>genointerp export RUN_DIR --features ...,${feature}</code>.</p>`;
    $("gi-evidence").innerHTML =
      `<div class="gi-ev-head"><h2>Feature ${feature}</h2>${badge(r.class)}</div>` +
      `<div class="gi-ev-sub">best concept <b>${general(r.best_concept)}</b>, held-out F1 ` +
      `<b>${fixed(3)(r.test_element_f1)}</b>, q <b>${sci(r.q_value)}</b></div>` +
      (logo ? `<img class="gi-ev-logo" alt="sequence logo of feature ${feature}" src="${esc(logo)}">` : "") +
      `<div class="gi-jaspar"><span class="gi-label">JASPAR</span> ${jaspar}</div>` +
      `<h3>Strongest sites</h3>` +
      (sites.length
        ? `<table class="gi-sites"><thead><tr><th>#</th><th>position</th><th>strand</th><th>activation</th><th>context</th></tr></thead><tbody>${siteRows}</tbody></table>`
        : '<p class="gi-hint">No sites recorded for this feature.</p>') +
      (hasTracks ? "" : noTracks) +
      `<h3>Scores</h3><dl class="gi-kv">${kv}</dl>`;
    $("gi-evidence").querySelectorAll("a[data-site]").forEach((a) => {
      a.addEventListener("click", () => gotoSite(sites[Number(a.dataset.site)], Number(a.dataset.site)));
    });
  }

  function sequence(context) {
    if (!context) return missing;
    const mid = Math.floor(context.length / 2);
    return esc(context.slice(0, mid)) + `<span class="gi-center">${esc(context[mid])}</span>` +
      esc(context.slice(mid + 1));
  }

  // ------------------------------------------------------------------- browser
  function trackConfig(t, order) {
    const base = { name: t.name, url: t.url, order: order };
    if (t.format === "bigwig" || t.format === "bedgraph") {
      return Object.assign(base, {
        type: "wig", format: t.format, color: rgb(t.color), height: 40, autoscale: true,
      });
    }
    // sites of many features overlap: one row each for the per-class sets
    const mode = t.group === "feature_set" ? "COLLAPSED" : "EXPANDED";
    const config = Object.assign(base, {
      type: "annotation", format: t.format, displayMode: mode, height: 36,
    });
    if (t.format === "bed") config.indexed = false;
    if (t.group === "feature_set" || t.group === "feature") config.visibilityWindow = 200000;
    if (t.group === "concept" || t.group === "feature") config.color = rgb(t.color);
    return config;
  }

  let order = 0;
  async function loadTracks(tracks) {
    const todo = tracks.filter((t) => !api.loaded.has(t.id));
    todo.forEach((t) => api.loaded.set(t.id, null));  // claimed: loaded once only
    const loaded = await Promise.all(todo.map(async (t) => {
      try {
        const track = await api.browser.loadTrack(trackConfig(t, (order += 1)));
        api.loaded.set(t.id, track);
        return track;
      } catch (err) {
        api.loaded.delete(t.id);
        fail(`track ${t.name} (${t.url}) did not load: ${err && err.message ? err.message : err}`);
        return null;
      }
    }));
    updateMenu();
    fitPane();
    return loaded;
  }

  function unloadTracks(tracks) {
    tracks.forEach((t) => {
      const track = api.loaded.get(t.id);
      if (track) api.browser.removeTrack(track);
      api.loaded.delete(t.id);
    });
    updateMenu();
    fitPane();
  }

  /** A feature's tracks: its activations per strand (bigWig, else bedGraph) and its sites
   * (bigBed, else BED), plus its best concept's track. */
  function featureTracks(feature) {
    const own = DATA.tracks.filter((t) => t.group === "feature" && t.feature === feature);
    const pick = (formats) => {
      const out = [];
      const seen = new Set();
      formats.forEach((f) => own.filter((t) => t.format === f).forEach((t) => {
        const key = t.strand || ".";
        if (!seen.has(key)) { seen.add(key); out.push(t); }
      }));
      return out;
    };
    const chosen = pick(["bigwig", "bedgraph"]).concat(pick(["bigbed", "bed"]));
    const best = rowOf(feature).best_concept;
    const concept = DATA.tracks.find((t) => (t.group === "concept" || t.group === "annotation") &&
      t.concept === best && (t.format === "bigbed" || t.format === "bed"));
    if (concept) chosen.push(concept);
    return chosen;
  }

  /** Scroll the browser pane down to the tracks loaded last (they are at the bottom). */
  function showLastTracks() {
    const pane = $("gi-browser-pane");
    pane.scrollTop = pane.scrollHeight;
  }

  /** Size the browser pane to its tracks, at most 56% of the window, until the user drags
   * its bottom edge (then the user's size stays). */
  let fittedHeight = null;
  function fitPane() {
    const pane = $("gi-browser-pane");
    if (document.body.classList.contains("gi-no-explorer")) return;
    if (fittedHeight !== null && Math.abs(pane.offsetHeight - fittedHeight) > 2) return;
    const content = $("gi-igv").offsetHeight + 12;
    fittedHeight = Math.round(Math.max(120, Math.min(content, 0.56 * window.innerHeight)));
    pane.style.height = `${fittedHeight}px`;
  }

  function siteLocus(site) {
    const [contig, start, end] = site;
    const centre = Math.floor((start + end) / 2) + 1;
    const contigInfo = DATA.genome.contigs.find((c) => c.name === contig);
    const length = contigInfo ? contigInfo.length : centre + FLANK;
    return `${contig}:${Math.max(1, centre - FLANK)}-${Math.min(length, centre + FLANK)}`;
  }

  async function gotoSite(site, index) {
    if (!site || !api.browser) return;
    await api.browser.search(siteLocus(site));
    document.querySelectorAll(".gi-sites tr").forEach((tr) => {
      tr.classList.toggle("gi-current", tr.dataset.site === String(index));
    });
  }

  let selections = 0;

  /** Select a feature: show its evidence, load its tracks, jump to its strongest site. */
  async function select(feature, options) {
    const opts = options || {};
    state.selected = feature;
    api.selected = feature;
    api.idle = false;
    const token = (selections += 1);
    document.querySelectorAll("#gi-table tbody tr").forEach((tr) => {
      tr.classList.toggle("gi-selected", Number(tr.dataset.feature) === feature);
    });
    renderEvidence(feature);
    try {
      if (!api.browser) return;
      const wanted = featureTracks(feature);
      unloadTracks(state.auto.filter((t) => !wanted.includes(t)));  // the previous feature's
      state.auto = wanted.filter((t) => !api.loaded.has(t.id));
      const added = (await loadTracks(wanted)).filter(Boolean);
      if (added.length) showLastTracks();
      const sites = DATA.sites[String(feature)] || [];
      if (opts.jump !== false && sites.length) await gotoSite(sites[0], 0);
      setStatus();
    } finally {
      if (token === selections) api.idle = true;  // the last click's work is done
    }
  }

  // ---------------------------------------------------------------- track menu
  const GROUPS = [["annotation", "Annotation"], ["concept", "Concepts"], ["feature_set", "Feature sets"], ["feature", "Features"]];

  function updateMenu() {
    const menu = $("gi-track-menu");
    menu.innerHTML = GROUPS.map(([group, title]) => {
      const tracks = DATA.tracks.filter((t) => (t.group || "annotation") === group);
      if (!tracks.length) return "";
      return `<h4>${title}</h4>` + tracks.map((t) =>
        `<label><input type="checkbox" data-track="${esc(t.id)}"${api.loaded.has(t.id) ? " checked" : ""}>` +
        `<span class="gi-swatch" style="background:${esc(rgb(t.color) || "#829ab1")}"></span>${esc(t.name)}</label>`).join("");
    }).join("");
  }

  function initMenu() {
    const button = $("gi-tracks-button");
    const menu = $("gi-track-menu");
    button.addEventListener("click", () => {
      menu.hidden = !menu.hidden;
      button.setAttribute("aria-expanded", String(!menu.hidden));
    });
    menu.addEventListener("change", (event) => {
      const id = event.target.dataset.track;
      const track = DATA.tracks.find((t) => t.id === id);
      if (!track) return;
      state.auto = state.auto.filter((t) => t !== track);
      if (event.target.checked) loadTracks([track]); else unloadTracks([track]);
    });
    document.addEventListener("click", (event) => {
      if (!menu.hidden && !menu.contains(event.target) && event.target !== button) {
        menu.hidden = true;
        button.setAttribute("aria-expanded", "false");
      }
    });
    updateMenu();
  }

  // ---------------------------------------------------------------- start-up
  function fail(message) {
    api.errors.push(message);
    console.error("genointerp viewer: " + message);
    setStatus();
  }

  function setStatus() {
    const status = $("gi-status");
    if (api.errors.length) {
      status.textContent = api.errors[api.errors.length - 1];
      status.classList.add("gi-error");
      return;
    }
    const n = Array.from(api.loaded.values()).filter(Boolean).length;
    status.textContent = `${n} of ${DATA.tracks.length} tracks shown`;
  }

  /** The annotation lanes shown at first (the others are in the Tracks menu): genes or
   * CDS, RNAs and promoters when the export has them, else the first few. */
  function defaultLanes() {
    const lanes = DATA.tracks.filter((t) => t.group === "annotation");
    const liked = lanes.filter((t) => DEFAULT_LANES.includes(t.concept));
    return (liked.length ? liked : lanes).slice(0, MAX_LANES);
  }

  function initialTracks(features) {
    const ids = (params.get("tracks") || "").split(",").filter(Boolean);
    let tracks = defaultLanes().concat(
      DATA.tracks.filter((t) => t.group === "feature_set" || ids.includes(t.id)));
    const concepts = DATA.tracks.filter((t) => t.group === "concept");
    if (concepts.length <= 3) tracks = tracks.concat(concepts);
    features.forEach((f) => { tracks = tracks.concat(featureTracks(f)); });
    return tracks.filter((t, i) => tracks.indexOf(t) === i);
  }

  async function start() {
    if (!DATA) {
      $("gi-status").textContent = "data.js is missing: run genointerp view RUN_DIR";
      return;
    }
    if (params.get("explorer") === "0") document.body.classList.add("gi-no-explorer");
    $("gi-run").innerHTML = `<b>${esc(DATA.run)}</b> &middot; ${esc(DATA.genome.name)}`;
    document.title = `${DATA.run} \u00b7 genointerp viewer`;
    initTable();
    initMenu();
    const features = (params.get("features") || "").split(",").filter(Boolean).map(Number)
      .filter((f) => Number.isInteger(f));
    const options = {
      reference: {
        id: DATA.genome.id, name: DATA.genome.name,
        fastaURL: DATA.genome.fastaURL, indexURL: DATA.genome.indexURL,
      },
      locus: params.get("locus") || DATA.default_locus,
      loadDefaultGenomes: false,
      search: false,
      showSampleNames: false,
    };
    if (window.location.protocol === "file:") {
      // igv.js reads the tracks with HTTP range requests, which file:// cannot answer
      $("gi-igv").innerHTML = '<p class="gi-hint gi-file">The genome browser needs a web server: ' +
        "run <code>genointerp view RUN_DIR</code> and open the address it prints. " +
        "The feature explorer below works without one.</p>";
      $("gi-status").textContent = "no server: tracks not shown";
      fitPane();
      api.ready = true;
      window.genointerpReady = true;
      return;
    }
    try {
      api.browser = await igv.createBrowser($("gi-igv"), options);
    } catch (err) {
      fail(`the genome did not load: ${err && err.message ? err.message : err}`);
      return;
    }
    await loadTracks(initialTracks(features));
    if (features.length) {
      await select(features[0], { jump: !params.get("locus") });
      showLastTracks();
    }
    setStatus();
    api.ready = true;
    window.genointerpReady = true;
  }

  window.addEventListener("error", (event) => { api.errors.push(String(event.message)); });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
