// Static site only: draws the anywidgets that a page embeds, without a kernel and without
// the Jupyter widgets HTML manager. _config.yml's nb_ipywidgets_js loads this one file on
// the pages that carry widget state (the Makefile's widgets-static step copies it into
// _static/toyviz-widgets/); JupyterLab keeps anywidget's own front end.
//
// myst-nb writes the notebook's widget state into the page as
//   <script type="application/vnd.jupyter.widget-state+json">{"state": {id: {...}}}</script>
// and each displayed widget as
//   <script type="application/vnd.jupyter.widget-view+json">{"model_id": id}</script>
// where its output was. For each view of an anywidget model (model_module "anywidget"),
// this script builds a model with the methods of anywidget's render({model, el}) contract
// (get, set, on, off, save_changes, send, widget_manager), imports the model's `_esm` from
// a Blob URL (which works from file:// too), calls the module's initialize({model}) once
// per model and render({model, el}) once per view, as anywidget 0.9+ does. Without a
// kernel, save_changes and send go nowhere: a widget still reacts to its own controls,
// since set() notifies the listeners on the page at once.
//
// A view of any other widget (an ipywidgets slider, say) would need its kernel-side
// model; it shows a short note in its place instead of failing silently.
(function () {
  "use strict";

  const STATE_TYPE = "application/vnd.jupyter.widget-state+json";
  const VIEW_TYPE = "application/vnd.jupyter.widget-view+json";
  const REFERENCE = "IPY_MODEL_";

  // ------------------------------------------------------------------ the model

  // Backbone-style events as ipywidgets' models fire them: "change:<name>" listeners get
  // (model, value), "change" listeners get (model) once per set().
  class StaticModel {
    constructor(id, state, manager) {
      this.model_id = id;
      this.widget_manager = manager;
      this._state = state;
      this._listeners = new Map();
    }

    get(name) {
      const value = this._state[name];
      return typeof value === "string" && value.startsWith(REFERENCE)
        ? this.widget_manager.modelNow(value.slice(REFERENCE.length)) ?? value
        : value;
    }

    set(name, value) {
      if (typeof name === "object" && name !== null) {
        for (const [key, item] of Object.entries(name)) this.set(key, item);
        return;
      }
      if (Object.is(this._state[name], value)) return;
      this._state[name] = value;
      this._emit(`change:${name}`, [this, value]);
      this._emit("change", [this]);
    }

    save_changes() {}  // no kernel to save to

    send() {}  // no kernel to send to

    on(event, callback, context) {
      for (const name of String(event).split(/\s+/).filter(Boolean)) {
        if (!this._listeners.has(name)) this._listeners.set(name, []);
        this._listeners.get(name).push({ callback, context });
      }
    }

    off(event, callback, context) {
      const names = event ? String(event).split(/\s+/).filter(Boolean)
                          : Array.from(this._listeners.keys());
      for (const name of names) {
        const kept = (this._listeners.get(name) || []).filter((listener) =>
          (callback && listener.callback !== callback)
          || (context !== undefined && context !== null && listener.context !== context));
        this._listeners.set(name, kept);
      }
    }

    _emit(name, args) {
      for (const { callback, context } of (this._listeners.get(name) || []).slice()) {
        callback.apply(context, args);
      }
    }
  }

  // What anywidget hands a module: the model's methods, with listeners registered through
  // it kept apart per view (anywidget's modelProxy), so one view's off(null) leaves the
  // others alone.
  function modelProxy(model, owner) {
    return {
      get: (name) => model.get(name),
      set: (name, value) => model.set(name, value),
      save_changes: () => model.save_changes(),
      send: (content, callbacks, buffers) => model.send(content, callbacks, buffers),
      on: (event, callback) => model.on(event, callback, owner),
      off: (event, callback) => model.off(event, callback, owner),
      widget_manager: model.widget_manager,
    };
  }

  // A buffer of the embedded state (base64 or hex) goes back where ipywidgets took it
  // from, as a DataView, as the HTML manager does.
  function putBuffers(state, buffers) {
    for (const { path, data, encoding } of buffers || []) {
      const bytes = encoding === "hex"
        ? Uint8Array.from(data.match(/../g) || [], (pair) => parseInt(pair, 16))
        : Uint8Array.from(atob(data), (character) => character.charCodeAt(0));
      let target = state;
      for (const key of path.slice(0, -1)) target = target[key];
      target[path[path.length - 1]] = new DataView(bytes.buffer);
    }
  }

  class StaticManager {
    constructor(embedded) {
      this._models = new Map();
      for (const [id, entry] of Object.entries(embedded || {})) {
        const state = { ...(entry.state || {}) };
        putBuffers(state, entry.buffers);
        const model = new StaticModel(id, state, this);
        model.module = entry.model_module || state._model_module;
        model.name = entry.model_name || state._model_name;
        this._models.set(id, model);
      }
    }

    modelNow(id) {
      return this._models.get(id);
    }

    // ipywidgets' manager API, which anywidget exposes as model.widget_manager
    async get_model(id) {
      const model = this._models.get(id);
      if (!model) throw new Error(`toyviz static widgets: no model ${id} on this page`);
      return model;
    }
  }

  // ------------------------------------------------------------------ the module

  async function importModule(esm) {
    if (/^https?:\/\//.test(esm)) return import(esm);
    const url = URL.createObjectURL(new Blob([esm], { type: "text/javascript" }));
    try {
      return await import(url);
    } finally {
      URL.revokeObjectURL(url);
    }
  }

  // anywidget's loadWidget: a default export (an object, or a function returning one),
  // or the older named `render` export.
  async function widgetDefinition(esm) {
    const module = await importModule(esm);
    if (module.render) return { render: module.render };
    if (!module.default) throw new Error("an anywidget module must export a default object");
    return typeof module.default === "function" ? await module.default() : module.default;
  }

  function addCss(css, id) {
    if (!css) return;
    const style = document.createElement("style");
    if (id) style.id = id;
    style.textContent = css;
    document.head.append(style);
  }

  // The view's element with the layout ipywidgets would give it: _dom_classes, and each
  // set property of its LayoutModel as the CSS property of the same name.
  function viewElement(model) {
    const el = document.createElement("div");
    el.classList.add("jupyter-widgets", ...(model.get("_dom_classes") || []));
    const layout = model.get("layout");
    if (layout instanceof StaticModel) {
      for (const [name, value] of Object.entries(layout._state)) {
        if (!name.startsWith("_") && value !== null && value !== undefined) {
          el.style.setProperty(name.replace(/_/g, "-"), String(value));
        }
      }
    }
    return el;
  }

  const prepared = new Map();  // model -> Promise of its widget definition

  function prepare(model) {
    if (!prepared.has(model)) {
      prepared.set(model, (async () => {
        addCss(model.get("_css"), model.get("_anywidget_id"));
        const widget = await widgetDefinition(model.get("_esm"));
        if (widget.initialize) {
          await widget.initialize({ model: modelProxy(model, model), experimental: {} });
        }
        return widget;
      })());
    }
    return prepared.get(model);
  }

  async function renderView(model, script) {
    const area = document.createElement("div");
    area.className = "widget-subarea";
    script.before(area);
    if (model.module !== "anywidget") {
      area.textContent = `(${model.name || "This widget"} needs a running kernel: open the `
        + "notebook in JupyterLab to use it.)";
      console.warn(`toyviz static widgets: ${model.module} ${model.name} is not drawn`);
      return;
    }
    const el = viewElement(model);
    area.append(el);
    const widget = await prepare(model);
    if (widget.render) {
      const owner = {};
      await widget.render({ model: modelProxy(model, owner), el,
                            signal: new AbortController().signal, experimental: {} });
    }
  }

  function readJson(script) {
    return JSON.parse(script.textContent);
  }

  function renderPage() {
    const states = document.querySelectorAll(`script[type="${STATE_TYPE}"]`);
    const manager = new StaticManager(Object.assign(
      {}, ...Array.from(states, (script) => readJson(script).state)));
    for (const script of document.querySelectorAll(`script[type="${VIEW_TYPE}"]`)) {
      const id = readJson(script).model_id;
      const model = manager.modelNow(id);
      if (!model) {
        console.error(`toyviz static widgets: no state for the widget ${id} on this page`);
        continue;
      }
      renderView(model, script).catch((error) => console.error(error));
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", renderPage, { once: true });
  } else {
    renderPage();
  }
})();
