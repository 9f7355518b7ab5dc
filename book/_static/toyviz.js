/* The site's own script (_config.yml: html_static_path, html_js_files); JupyterLab never
   loads it. An animated figure (an image a cell's metadata gives the class
   toyviz-animation: chapter 3's training animation, an animated PNG that loops) gets a
   button that pauses and plays it (WCAG 2.2.2, Pause, Stop, Hide). Paused, a canvas with
   a still of the image (drawImage draws an animated image's first frame, which
   toyviz.plots makes the animation's last: where training ends) and the image's alt text
   stands in its place, at the image's size. A reader who asks for
   reduced motion (prefers-reduced-motion: reduce) gets it paused from the start.
   tests/test_figures.py checks it in Chromium. */
(function () {
  'use strict';

  var reduceMotion = window.matchMedia('(prefers-reduced-motion: reduce)');

  function still(img) {
    var canvas = document.createElement('canvas');
    canvas.className = 'toyviz-animation-still';
    canvas.setAttribute('role', 'img');
    canvas.setAttribute('aria-label', img.getAttribute('alt') || '');
    canvas.width = img.naturalWidth;
    canvas.height = img.naturalHeight;
    canvas.style.width = img.style.width || img.getBoundingClientRect().width + 'px';
    canvas.getContext('2d').drawImage(img, 0, 0);
    return canvas;
  }

  function addToggle(img) {
    var button = document.createElement('button');
    var paused = false;
    var canvas = null;
    button.type = 'button';
    button.className = 'toyviz-animation-toggle';

    function show() {  // the image, or a still of it once it has loaded
      button.textContent = paused ? 'Play animation' : 'Pause animation';
      if (paused && !canvas && img.complete && img.naturalWidth) {
        canvas = still(img);
        img.replaceWith(canvas);
      } else if (!paused && canvas) {
        canvas.replaceWith(img);
        canvas = null;
      }
    }

    function setPaused(value) {
      paused = value;
      show();
    }

    button.addEventListener('click', function () { setPaused(!paused); });
    img.addEventListener('load', show);
    reduceMotion.addEventListener('change', function (query) {
      if (query.matches) setPaused(true);
    });
    // Below the image (and its link, if it has one), above the caption.
    (img.closest('a') || img).after(button);
    setPaused(reduceMotion.matches);
  }

  function init() {
    document.querySelectorAll('img.toyviz-animation').forEach(addToggle);
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init);
  } else {
    init();
  }
})();
