// Drive Monitor live theme: keeps the page's theme in step with the bot's theme files and
// theme settings, without ever reloading the page.
//
// Include it as <script src="/themes/{bot}/live.js"></script> (add data-token="..." when the
// bot has an access token). It connects to /ws/{bot} on the same server and:
// - swaps a changed stylesheet by inserting a <link> to its new version after the old one
//   and removing the old one only once the new one has loaded, so nothing flashes unstyled;
// - follows @import: when a file that a linked sheet imports (at any depth) changes, or an
//   image or font changes, the linked sheet is loaded again under a new URL, and the server
//   pins its references to their new versions;
// - applies the theme settings as custom properties on the root element (--theme-color1,
//   --theme-color2, --theme-logo as url(), --theme-title and --theme-logo-text as strings)
//   and as the content of elements marked data-theme-setting="theme-title" (or the src of
//   such an <img>);
// - reconnects with exponential backoff (0.5 s doubling to 30 s, with jitter).
//
// The first message of every connection is the whole theme state; later ones list what
// changed. `document` receives a "drive:event" CustomEvent for every message, and
// window.DriveLiveTheme says whether the script is connected and what it last saw.
//
// Known limits: only <link rel="stylesheet"> elements are managed (not @import inside
// <style> elements, nor images in <img> elements); sheets from another origin than this
// script's are left alone.
(function () {
  "use strict";

  var script = document.currentScript;
  if (!script || !window.WebSocket || !window.URL) {
    return;
  }
  var scriptUrl = new URL(script.src, document.baseURI);
  var match = /^(.*)\/themes\/([^/]+)\/live\.js$/.exec(scriptUrl.pathname);
  if (!match) {
    return;
  }
  var bot = decodeURIComponent(match[2]);
  var themeRoot = new URL(match[1] + "/themes/" + match[2] + "/", scriptUrl);
  var token = script.getAttribute("data-token") || scriptUrl.searchParams.get("token");
  var socketUrl = new URL(match[1] + "/ws/" + match[2], scriptUrl);
  socketUrl.protocol = scriptUrl.protocol === "https:" ? "wss:" : "ws:";
  if (token) {
    socketUrl.searchParams.set("token", token);
  }

  var PROPERTIES = {
    "theme-color1": "--theme-color1",
    "theme-color2": "--theme-color2",
    "theme-logo": "--theme-logo",
    "theme-title": "--theme-title",
    "theme-logo-text": "--theme-logo-text"
  };
  var MAX_IMPORT_DEPTH = 16;
  var RETRY_FIRST_MS = 500;
  var RETRY_CAP_MS = 30000;

  var status = { bot: bot, connected: false, seq: 0, swaps: 0, files: {}, settings: {} };
  window.DriveLiveTheme = status;

  // Replacement links still loading, by the link they replace.
  var pending = new Map();
  // Makes every reload of an importing sheet a URL this document has not loaded yet.
  var reloads = 0;
  var pageNonce = Math.random().toString(36).slice(2, 8);

  // Returns the theme path a URL names, or null when it is not a file of this bot's theme.
  function themePath(href) {
    var url;
    try {
      url = new URL(href, document.baseURI);
    } catch (err) {
      return null;
    }
    if (url.origin !== themeRoot.origin || url.pathname.indexOf(themeRoot.pathname) !== 0) {
      return null;
    }
    var rest = url.pathname.slice(themeRoot.pathname.length);
    if (!rest || rest === "live.js") {
      return null;
    }
    try {
      return rest.split("/").map(decodeURIComponent).join("/");
    } catch (err) {
      return null;
    }
  }

  function isStylesheet(path) {
    return /\.css$/i.test(path);
  }

  // The stylesheet links of this theme now in effect (not replacements still loading).
  function themeLinks() {
    var links = document.querySelectorAll('link[rel~="stylesheet"]');
    return Array.prototype.filter.call(links, function (link) {
      return !link.hasAttribute("data-theme-pending") && themePath(link.href) !== null;
    });
  }

  // Adds to `found` the theme path of every sheet `sheet` imports, at any depth.
  function importedPaths(sheet, found, depth) {
    var rules;
    try {
      rules = sheet && sheet.cssRules;
    } catch (err) {
      return found;
    }
    if (!rules || depth > MAX_IMPORT_DEPTH) {
      return found;
    }
    for (var i = 0; i < rules.length; i++) {
      var rule = rules[i];
      if (rule.type !== CSSRule.IMPORT_RULE) {
        continue;
      }
      var path = themePath(new URL(rule.href, sheet.href || document.baseURI).href);
      if (path !== null) {
        found.add(path);
      }
      importedPaths(rule.styleSheet, found, depth + 1);
    }
    return found;
  }

  // Replaces `link` by a copy pointing at `href`; the old link goes once the new one loaded.
  function swap(link, href) {
    var superseded = pending.get(link);
    if (superseded) {
      superseded.remove();
    }
    var next = link.cloneNode(false);
    next.setAttribute("data-theme-pending", "");
    next.href = href;
    pending.set(link, next);
    next.addEventListener("load", function () {
      if (pending.get(link) !== next) {
        return;
      }
      pending.delete(link);
      next.removeAttribute("data-theme-pending");
      link.remove();
      status.swaps += 1;
    });
    next.addEventListener("error", function () {
      // The old version stays; the next change or reconnection tries again.
      if (pending.get(link) === next) {
        pending.delete(link);
      }
      next.remove();
    });
    link.parentNode.insertBefore(next, link.nextSibling);
  }

  // Applies theme files: `files` lists what changed, or everything there is when `whole`.
  function applyFiles(files, whole) {
    var previous = status.files;
    var known = whole ? {} : Object.assign({}, previous);
    var changedPaths = new Set();
    files.forEach(function (file) {
      if (file.url) {
        known[file.path] = file;
      } else {
        delete known[file.path];
      }
      // A whole state changes only what this page knew otherwise; on the first connection
      // the page was just rendered from the same state.
      var before = previous[file.path];
      if (!whole || (before && before.hash !== file.hash)) {
        changedPaths.add(file.path);
      }
    });
    if (whole) {
      Object.keys(previous).forEach(function (path) {
        if (!known[path]) {
          changedPaths.add(path);
        }
      });
    }
    status.files = known;
    var assetChanged = Array.from(changedPaths).some(function (path) {
      return !isStylesheet(path);
    });

    themeLinks().forEach(function (link) {
      var path = themePath(link.href);
      var file = known[path];
      if (!file) {
        if (whole || changedPaths.has(path)) {
          link.remove();
        }
        return;
      }
      var url = new URL(file.url, themeRoot);
      if (new URL(link.href).searchParams.get("v") !== file.hash) {
        swap(link, url.href);
        return;
      }
      var imports = importedPaths(link.sheet, new Set(), 0);
      var importChanged = Array.from(changedPaths).some(function (changedPath) {
        return imports.has(changedPath);
      });
      if (importChanged || assetChanged) {
        reloads += 1;
        url.searchParams.set("reload", pageNonce + "-" + reloads);
        swap(link, url.href);
      }
    });
  }

  function cssString(text) {
    return '"' + String(text).replace(/["\\]/g, "\\$&").replace(/\n/g, "\\a ") + '"';
  }

  function applySettings(settings) {
    status.settings = settings;
    var root = document.documentElement.style;
    Object.keys(PROPERTIES).forEach(function (name) {
      var value = settings[name];
      var property = PROPERTIES[name];
      if (value === undefined || value === null || value === "") {
        root.removeProperty(property);
      } else if (name === "theme-logo") {
        root.setProperty(property, "url(" + cssString(value) + ")");
      } else if (name === "theme-title" || name === "theme-logo-text") {
        root.setProperty(property, cssString(value));
      } else {
        root.setProperty(property, value);
      }
    });
    var marked = document.querySelectorAll("[data-theme-setting]");
    Array.prototype.forEach.call(marked, function (element) {
      var value = settings[element.getAttribute("data-theme-setting")] || "";
      if (element.tagName === "IMG") {
        if (value) {
          element.src = value;
        }
        element.hidden = !value;
      } else {
        element.textContent = value;
      }
    });
  }

  var attempts = 0;

  function connect() {
    var first = true;
    var socket;
    try {
      socket = new WebSocket(socketUrl.href);
    } catch (err) {
      retry();
      return;
    }
    socket.onmessage = function (message) {
      var event;
      try {
        event = JSON.parse(message.data);
      } catch (err) {
        return;
      }
      if (!event || event.bot !== bot) {
        return;
      }
      if (event.type === "theme.changed" || event.type === "resync") {
        var payload = event.payload || {};
        applyFiles(payload.files || [], first || event.type === "resync");
        applySettings(payload.settings || {});
      }
      first = false;
      attempts = 0;
      status.connected = true;
      status.seq = event.seq;
      document.dispatchEvent(new CustomEvent("drive:event", { detail: event }));
    };
    socket.onclose = function () {
      status.connected = false;
      retry();
    };
  }

  function retry() {
    var delay = Math.min(RETRY_CAP_MS, RETRY_FIRST_MS * Math.pow(2, attempts));
    attempts += 1;
    setTimeout(connect, delay / 2 + Math.random() * delay / 2);
  }

  connect();
})();
