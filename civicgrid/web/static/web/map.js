/* civicgrid maps: Leaflet from our own static files, configured by data-* attributes.
 *
 * <div data-map data-cells-url=".." data-tile-url="" data-lat=".." data-lng=".."
 *      data-pick="1" data-lat-input="id_lat" data-lng-input="id_lng">
 * Without a tile URL the grid cells are drawn on a plain background (offline intranets).
 * With data-pick a click sets the hidden inputs, shows the cell and fires "cg:point" on <body>.
 */
(function () {
  "use strict";

  function ringContains(ring, lng, lat) {
    var inside = false;
    for (var i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      var xi = ring[i][0], yi = ring[i][1], xj = ring[j][0], yj = ring[j][1];
      if ((yi > lat) !== (yj > lat) && lng < ((xj - xi) * (lat - yi)) / (yj - yi) + xi) {
        inside = !inside;
      }
    }
    return inside;
  }

  function polygonContains(coords, lng, lat) {
    if (!ringContains(coords[0], lng, lat)) return false;
    for (var h = 1; h < coords.length; h++) {
      if (ringContains(coords[h], lng, lat)) return false;
    }
    return true;
  }

  function featureContains(feature, lng, lat) {
    var g = feature.geometry;
    if (!g) return false;
    if (g.type === "Polygon") return polygonContains(g.coordinates, lng, lat);
    if (g.type === "MultiPolygon") {
      return g.coordinates.some(function (p) { return polygonContains(p, lng, lat); });
    }
    return false;
  }

  function cellLabel(feature) {
    var p = feature.properties || {};
    var lang = (document.documentElement.lang || "").toLowerCase();
    var name = lang.indexOf("en") === 0 && p.name_en ? p.name_en : p.name;
    return (name ? name + " " : "") + "(" + p.code + ")";
  }

  function setup(el) {
    var map = L.map(el, { zoomControl: true, attributionControl: !!el.dataset.tileUrl });
    if (el.dataset.tileUrl) {
      L.tileLayer(el.dataset.tileUrl, {
        maxZoom: 19,
        attribution: el.dataset.tileAttribution || "",
      }).addTo(map);
    } else {
      el.classList.add("no-tiles");
    }
    var lat = parseFloat(el.dataset.lat);
    var lng = parseFloat(el.dataset.lng);
    var hasPoint = !isNaN(lat) && !isNaN(lng);
    var marker = null;
    var cells = [];
    var status = el.parentNode.querySelector("[data-map-cell]");
    var highlighted = null;
    var layer = null;

    function showCell(plat, plng) {
      var found = null;
      cells.forEach(function (f) { if (!found && featureContains(f, plng, plat)) found = f; });
      if (layer) {
        layer.setStyle(function (f) {
          return f === found ? { weight: 3, color: "#b45309", fillOpacity: 0.25 } : {};
        });
        if (!found) layer.resetStyle();
      }
      highlighted = found;
      if (status) {
        status.textContent = found
          ? (el.dataset.cellPrefix || status.dataset.prefix || "") + cellLabel(found)
          : (status.dataset.outside || "");
        status.classList.toggle("outside", !found);
      }
      el.dataset.cell = found ? found.properties.code : "";
      return found;
    }

    function place(plat, plng) {
      if (marker) marker.setLatLng([plat, plng]);
      else marker = L.marker([plat, plng], { keyboard: false }).addTo(map);
    }

    if (hasPoint) {
      map.setView([lat, lng], 16);
      place(lat, lng);
    } else {
      map.setView([39.9, 116.4], 12);
    }

    fetch(el.dataset.cellsUrl, { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        cells = data.features || [];
        layer = L.geoJSON(data, {
          style: function () {
            return { color: "#1d4ed8", weight: 1.5, fillColor: "#93c5fd", fillOpacity: 0.12 };
          },
          interactive: false,
        }).addTo(map);
        if (cells.length && !hasPoint) map.fitBounds(layer.getBounds(), { padding: [0, 0] });
        if (hasPoint) showCell(lat, lng);
        el.dataset.ready = "1";
      })
      .catch(function () { el.dataset.ready = "error"; });

    if (el.dataset.pick) {
      var latInput = document.getElementById(el.dataset.latInput);
      var lngInput = document.getElementById(el.dataset.lngInput);
      map.on("click", function (e) {
        var plat = Math.round(e.latlng.lat * 1e6) / 1e6;
        var plng = Math.round(e.latlng.lng * 1e6) / 1e6;
        place(plat, plng);
        if (latInput) latInput.value = plat.toFixed(6);
        if (lngInput) lngInput.value = plng.toFixed(6);
        showCell(plat, plng);
        document.body.dispatchEvent(new CustomEvent("cg:point", { bubbles: true }));
      });
    }
  }

  function init() {
    if (typeof L === "undefined") return;
    document.querySelectorAll("[data-map]").forEach(setup);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
