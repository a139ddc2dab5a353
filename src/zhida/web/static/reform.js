/* The policy sandbox's charts (templates/reform.html): reads the JSON the page embeds in #sandbox-data
   and draws it with the vendored ECharts. Amounts arrive as exact decimal strings; they become numbers
   (万元, 元) only to size the bars, and tooltips show the exact strings. Tooltips are drawn on the canvas
   (renderMode richText): HTML tooltips carry style="" attributes, which the page's CSP refuses. */
(function () {
  "use strict";
  var source = document.getElementById("sandbox-data");
  if (!source || typeof echarts === "undefined" || !window.zhidaCharts) { return; }
  var data = JSON.parse(source.textContent);
  var shared = window.zhidaCharts;
  var yuan = shared.yuan, wan = shared.wan, labelWidth = shared.labelWidth;
  var draw = shared.page();
  var COLORS = { baseline: "#98a2b3", reform: "#b42318", gain: "#0e7a4d", loss: "#d92d20" };

  /* The rules in force beside the reform, in 万元, one pair of bars per row; `extra` adds lines
     before the two amounts in the tooltip (an area's budget). */
  function comparisonBars(id, rows, nameOf, extra) {
    var element = document.getElementById(id);
    if (!element) { return; }
    var ordered = rows.slice().reverse();
    function series(kind, label) {
      return {
        name: label, type: "bar", barMaxWidth: 14, itemStyle: { color: COLORS[kind] },
        data: ordered.map(function (row) { return { value: wan(row[kind]), row: row }; })
      };
    }
    draw(id, {
      legend: { top: 0 },
      grid: { left: 8, right: 24, top: 32, bottom: 28, containLabel: true },
      tooltip: {
        trigger: "axis", renderMode: "richText", axisPointer: { type: "shadow" },
        formatter: function (items) {
          var row = items[0].data.row;
          return nameOf(row) + extra(row) + "\n现行规则:" + yuan(row.baseline) + " 元\n改革后:" + yuan(row.reform) +
            " 元\n变化:" + yuan(row.change) + " 元";
        }
      },
      xAxis: { type: "value", name: "万元", nameLocation: "middle", nameGap: 22, axisLabel: { hideOverlap: true } },
      yAxis: { type: "category", data: ordered.map(nameOf),
               axisLabel: { width: labelWidth(element, 150), overflow: "truncate" } },
      series: [series("baseline", "现行规则"), series("reform", "改革后")]
    });
  }

  /* Cost by area, with its budget. */
  function areaBars() {
    comparisonBars("chart-areas", data.areas, function (row) { return row.name; },
                   function (row) { return "\n预算:" + yuan(row.budget) + " 元"; });
  }

  /* Cost by rule: the rules the reform moves (each change of the list shows here). */
  function ruleBars() {
    var element = document.getElementById("chart-rules");
    if (!element) { return; }
    element.style.height = Math.max(160, 60 + data.rules.length * 44) + "px";
    comparisonBars("chart-rules", data.rules, function (row) { return row.title; }, function () { return ""; });
  }

  /* Gainers and losers: each subject's change at the quantiles of its side, in 元 (losses below 0). */
  function sideBars() {
    var element = document.getElementById("chart-sides");
    if (!element) { return; }
    var names = ["最小"].concat(data.quantile_names, ["最大"]);
    function points(side) {
      var values = [side.smallest].concat(data.quantile_names.map(function (name) { return side.quantiles[name]; }),
                                          [side.largest]);
      return values.map(function (value) { return { value: value === null ? null : Number(value), exact: value }; });
    }
    draw("chart-sides", {
      legend: { top: 0 },
      grid: { left: 8, right: 24, top: 32, bottom: 28, containLabel: true },
      tooltip: {
        trigger: "axis", renderMode: "richText", axisPointer: { type: "shadow" },
        formatter: function (items) {
          return items[0].name + "\n" + items.map(function (item) {
            return item.seriesName + ":" + (item.data.exact === null ? "—" : yuan(item.data.exact) + " 元");
          }).join("\n");
        }
      },
      xAxis: { type: "category", data: names },
      yAxis: { type: "value", name: "每户变化(元)", axisLabel: { hideOverlap: true } },
      series: [
        { name: "受益 " + data.gainers.count + " 户", type: "bar", barMaxWidth: 18, itemStyle: { color: COLORS.gain },
          data: points(data.gainers) },
        { name: "受损 " + data.losers.count + " 户", type: "bar", barMaxWidth: 18, itemStyle: { color: COLORS.loss },
          data: points(data.losers) }
      ]
    });
  }

  areaBars();
  ruleBars();
  sideBars();
})();
