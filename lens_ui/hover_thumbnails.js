// Hover thumbnails for a Plotly scatter drawn by st.plotly_chart (Streamlit components v2, runs in the page).
// data = {target: "<st.plotly_chart key>", sprite: "data:image/jpeg;base64,…", tile: 32, columns: 32,
//         labels: ["circle · red", …]}; every point's customdata is its row in the sprite sheet.
export default function (component) {
  const { data } = component;
  const state = (window.__sslLensHover = window.__sslLensHover || { hooked: new WeakSet() });
  state.data = data;
  let tip = document.getElementById("ssl-lens-hover-tip");
  if (!tip) {
    tip = document.createElement("div");
    tip.id = "ssl-lens-hover-tip";
    tip.setAttribute("data-testid", "sslLensHoverTip");
    tip.style.cssText = "position:fixed;z-index:100000;pointer-events:none;display:none;background:white;" +
      "border:1px solid #ccc;border-radius:6px;padding:6px;box-shadow:0 2px 8px rgba(0,0,0,.2);" +
      "font:12px sans-serif;color:#222;text-align:center";
    tip.innerHTML = '<div class="img" style="width:96px;height:96px;image-rendering:pixelated;' +
      'background-repeat:no-repeat;margin:0 auto"></div><div class="label" style="margin-top:4px;max-width:160px"></div>';
    document.body.appendChild(tip);
  }
  const show = (ev) => {
    const d = state.data;
    const p = ev && ev.points && ev.points[0];
    if (!d || !p) return;
    const row = Array.isArray(p.customdata) ? p.customdata[0] : p.customdata;
    if (row === undefined || row === null) return;
    const scale = 96 / d.tile;
    const img = tip.querySelector(".img");
    img.style.backgroundImage = `url(${d.sprite})`;
    img.style.backgroundSize = `${d.columns * d.tile * scale}px auto`;
    img.style.backgroundPosition = `-${(row % d.columns) * 96}px -${Math.floor(row / d.columns) * 96}px`;
    tip.querySelector(".label").textContent = d.labels[row] || "";
    const e = ev.event || {};
    const x = (e.clientX || 0) + 16, y = (e.clientY || 0) + 16;
    tip.style.left = Math.min(x, window.innerWidth - 180) + "px";
    tip.style.top = Math.min(y, window.innerHeight - 140) + "px";
    tip.style.display = "block";
  };
  const hide = () => { tip.style.display = "none"; };
  const hook = () => {
    const d = state.data;
    if (!d) return;
    document.querySelectorAll(`.st-key-${d.target} .js-plotly-plot`).forEach((gd) => {
      if (state.hooked.has(gd) || typeof gd.on !== "function") return;
      gd.on("plotly_hover", show);
      gd.on("plotly_unhover", hide);
      state.hooked.add(gd);
    });
  };
  hook();
  if (!state.timer) state.timer = setInterval(hook, 500);
}
