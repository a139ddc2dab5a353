/* What the leadership dashboard's and the policy sandbox's charts share (static/dashboard.js,
   static/reform.js): amounts as exact decimal strings written with separators, 万元 for sizing the
   bars only, the width of a bar chart's labels, and drawing with the vendored ECharts on the canvas,
   every chart of a page redrawn when the window changes size. */
window.zhidaCharts = (function () {
  "use strict";

  /* "1234567.8" -> "1,234,567.80": exact, on the string, never through a float. */
  function yuan(text) {
    if (text === null || text === undefined) { return "—"; }
    var negative = text.charAt(0) === "-";
    var parts = (negative ? text.slice(1) : text).split(".");
    var cents = ((parts[1] || "") + "00").slice(0, 2);
    var whole = parts[0].replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    return (negative ? "-" : "") + whole + "." + cents;
  }

  /* A decimal string as 万元, for drawing only. */
  function wan(text) { return text === null || text === undefined ? null : Number(text) / 10000; }

  function labelWidth(element, widest) {
    return Math.max(60, Math.min(widest, Math.round(element.clientWidth * 0.32)));
  }

  /* The `draw(id, option)` of one page: its charts are resized together after the window is. */
  function page() {
    var charts = [];
    var pending = null;
    window.addEventListener("resize", function () {
      if (pending) { window.clearTimeout(pending); }
      pending = window.setTimeout(function () { charts.forEach(function (chart) { chart.resize(); }); }, 150);
    });
    return function draw(id, option) {
      var element = document.getElementById(id);
      if (!element) { return; }
      var chart = echarts.init(element, null, { renderer: "canvas" });
      option.animation = false;
      option.textStyle = { fontFamily: "Noto Sans CJK SC, PingFang SC, Microsoft YaHei, sans-serif" };
      chart.setOption(option);
      charts.push(chart);
    };
  }

  return { yuan: yuan, wan: wan, labelWidth: labelWidth, page: page };
})();
