/* civicgrid maps: Leaflet from our own static files, configured by data-* attributes.
 *
 * <div data-map data-cells-url=".." data-basemap-url=".." data-tile-url="" data-lat=".."
 *      data-lng=".." data-pick="1" data-lat-input="id_lat" data-lng-input="id_lng">
 *
 * Without a tile URL the map draws our own base map (streets, buildings, greens, water and
 * landmarks from /map/basemap.geojson) under the grid cells, so it works on an intranet with no
 * internet. With a tile URL the tiles are the base map.
 *
 * With data-pick, a tap sets the hidden inputs, marks the point with a small dot (the chosen
 * cell stays visible around it), names the cell below the map and fires "cg:point" on <body>.
 * Cells are kept at least 44 px wide on screen: the first view is zoomed in far enough, and a
 * tap on a cell drawn smaller than that zooms in on it instead of choosing it. A "use my
 * location" button ([data-locate]) asks the browser for its position.
 */
(function () {
  "use strict";

  var MIN_CELL_PX = 44;
  var CELL_STYLE = { color: "#1d4ed8", weight: 1.5, fillColor: "#93c5fd", fillOpacity: 0.08 };
  var CHOSEN_CELL_STYLE = { weight: 4, color: "#b45309", fillColor: "#fde68a", fillOpacity: 0.35 };
  var BASEMAP_STYLE = {
    green: { stroke: false, fillColor: "#bbf7d0", fillOpacity: 1 },
    water: { stroke: false, fillColor: "#93c5fd", fillOpacity: 1 },
    building: { color: "#a8a29e", weight: 1, fillColor: "#e7e5e4", fillOpacity: 1 },
    path: { color: "#78716c", weight: 1.5, dashArray: "4 4" },
    street: { color: "#ffffff", weight: 7, opacity: 1, lineCap: "round" },
  };

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

  function english() {
    return (document.documentElement.lang || "").toLowerCase().indexOf("en") === 0;
  }

  function nameOf(props) {
    return english() && props.name_en ? props.name_en : props.name || "";
  }

  function cellLabel(feature) {
    var p = feature.properties || {};
    var name = nameOf(p);
    return (name ? name + " " : "") + "(" + p.code + ")";
  }

  function drawBasemap(map, data) {
    var pane = map.createPane("basemap");
    pane.style.zIndex = 250; // under the cells (overlay pane, 400)
    var casing = L.geoJSON(data, {
      pane: "basemap",
      interactive: false,
      filter: function (f) { return f.properties.kind === "street"; },
      style: function () { return { color: "#cbd5e1", weight: 9, opacity: 1, lineCap: "round" }; },
    });
    var shapes = L.geoJSON(data, {
      pane: "basemap",
      interactive: false,
      filter: function (f) { return f.properties.kind !== "landmark"; },
      style: function (f) { return BASEMAP_STYLE[f.properties.kind] || {}; },
      onEachFeature: function (f, layer) {
        var name = nameOf(f.properties);
        if (name && (f.properties.kind === "street" || f.properties.kind === "green")) {
          layer.bindTooltip(name, {
            permanent: true, direction: "center", className: "map-label map-label-" + f.properties.kind,
          });
        }
      },
    });
    var landmarks = L.geoJSON(data, {
      pane: "basemap",
      interactive: false,
      filter: function (f) { return f.properties.kind === "landmark"; },
      pointToLayer: function (f, latlng) {
        return L.circleMarker(latlng, {
          pane: "basemap", radius: 5, color: "#7c2d12", weight: 2, fillColor: "#fb923c", fillOpacity: 1,
        }).bindTooltip(nameOf(f.properties), {
          permanent: true, direction: "right", offset: [6, 0], className: "map-label map-label-landmark",
        });
      },
    });
    casing.addTo(map);
    shapes.addTo(map);
    landmarks.addTo(map);
    // Names only where they can be read: street and park names from zoom 16, landmarks from 15.
    function labels() {
      var z = map.getZoom();
      var container = map.getContainer();
      container.classList.toggle("labels-streets", z >= 16);
      container.classList.toggle("labels-landmarks", z >= 15);
    }
    map.on("zoomend", labels);
    labels();
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
    var layer = null;

    function say(text, outside) {
      if (!status) return;
      status.textContent = text;
      status.classList.toggle("outside", !!outside);
    }

    function cellAt(plat, plng) {
      for (var i = 0; i < cells.length; i++) {
        if (featureContains(cells[i], plng, plat)) return cells[i];
      }
      return null;
    }

    function showCell(plat, plng) {
      var found = cellAt(plat, plng);
      if (layer) {
        layer.setStyle(function (f) { return f === found ? CHOSEN_CELL_STYLE : CELL_STYLE; });
      }
      say(
        found ? (status && status.dataset.prefix || "") + cellLabel(found) : (status && status.dataset.outside || ""),
        !found
      );
      el.dataset.cell = found ? found.properties.code : "";
      return found;
    }

    function place(plat, plng) {
      // A dot, not a pin: the chosen cell stays visible around it.
      if (marker) marker.setLatLng([plat, plng]);
      else {
        marker = L.circleMarker([plat, plng], {
          radius: 8, color: "#ffffff", weight: 3, fillColor: "#b91c1c", fillOpacity: 1, interactive: false,
        }).addTo(map);
      }
    }

    function cellPixels(feature) {
      var b = L.geoJSON(feature).getBounds();
      var nw = map.latLngToContainerPoint(b.getNorthWest());
      var se = map.latLngToContainerPoint(b.getSouthEast());
      return Math.min(Math.abs(se.x - nw.x), Math.abs(se.y - nw.y));
    }

    function smallestCellPixels() {
      var least = Infinity;
      cells.forEach(function (f) { least = Math.min(least, cellPixels(f)); });
      return least;
    }

    if (hasPoint) {
      map.setView([lat, lng], 17);
      place(lat, lng);
    } else {
      map.setView([39.9, 116.4], 12);
    }

    var ready = [
      fetch(el.dataset.cellsUrl, { credentials: "same-origin" }).then(function (r) { return r.json(); }),
    ];
    if (!el.dataset.tileUrl && el.dataset.basemapUrl) {
      ready.push(
        fetch(el.dataset.basemapUrl, { credentials: "same-origin" })
          .then(function (r) { return r.json(); })
          .then(function (data) { drawBasemap(map, data); })
          .catch(function () { el.dataset.basemap = "error"; })
      );
    }

    Promise.all(ready)
      .then(function (results) {
        var data = results[0];
        cells = data.features || [];
        layer = L.geoJSON(data, {
          style: function () { return CELL_STYLE; },
          interactive: false,
        }).addTo(map);
        if (cells.length && !hasPoint) {
          map.fitBounds(layer.getBounds(), { padding: [0, 0], animate: false });
          // Zoom in until every cell is a comfortable tap target, around the area's centre.
          while (smallestCellPixels() < MIN_CELL_PX && map.getZoom() < 19) {
            map.setZoom(map.getZoom() + 1, { animate: false });
          }
        }
        if (hasPoint) showCell(lat, lng);
        el.dataset.basemap = el.dataset.basemap || (el.dataset.tileUrl ? "tiles" : "ours");
        el.dataset.ready = "1";
      })
      .catch(function () { el.dataset.ready = "error"; });

    if (!el.dataset.pick) return;
    var latInput = document.getElementById(el.dataset.latInput);
    var lngInput = document.getElementById(el.dataset.lngInput);

    function choose(plat, plng) {
      plat = Math.round(plat * 1e6) / 1e6;
      plng = Math.round(plng * 1e6) / 1e6;
      place(plat, plng);
      if (latInput) latInput.value = plat.toFixed(6);
      if (lngInput) lngInput.value = plng.toFixed(6);
      var found = showCell(plat, plng);
      document.body.dispatchEvent(new CustomEvent("cg:point", { bubbles: true }));
      return found;
    }

    map.on("click", function (e) {
      var tapped = cellAt(e.latlng.lat, e.latlng.lng);
      if (tapped && cellPixels(tapped) < MIN_CELL_PX && map.getZoom() < 19) {
        // Too small to aim at: bring it closer first.
        map.setView(e.latlng, map.getZoom() + 2);
        say(status && status.dataset.zoomed || "");
        return;
      }
      choose(e.latlng.lat, e.latlng.lng);
    });

    var locate = el.parentNode.querySelector("[data-locate]");
    if (!locate) return;
    if (!navigator.geolocation || !window.isSecureContext) {
      locate.hidden = true; // the browser cannot tell (plain http on a network address)
      return;
    }
    locate.hidden = false;
    locate.addEventListener("click", function () {
      locate.disabled = true;
      say(locate.dataset.finding || "");
      navigator.geolocation.getCurrentPosition(
        function (pos) {
          locate.disabled = false;
          map.setView([pos.coords.latitude, pos.coords.longitude], Math.max(map.getZoom(), 17));
          choose(pos.coords.latitude, pos.coords.longitude);
        },
        function (err) {
          locate.disabled = false;
          say(err.code === 1 ? locate.dataset.denied || "" : locate.dataset.unavailable || "", true);
        },
        { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 }
      );
    });
  }

  function init() {
    if (typeof L === "undefined") return;
    document.querySelectorAll("[data-map]").forEach(setup);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
