// Static site only. Loaded by _config.yml's nb_ipywidgets_js after require.js and before
// the Jupyter widgets HTML manager (embed-amd.js); the Makefile's widgets-static step
// copies all of them into _static/toyviz-widgets/. Making that folder require.js' base
// URL means anywidget's front end (anywidget.js) and the manager's fonts (which it looks
// for under @jupyter-widgets/ beside its module names) load from this site, never a CDN.
(function () {
  var here = new URL(".", document.currentScript.src).href;
  window.requirejs.config({ baseUrl: here });
})();
