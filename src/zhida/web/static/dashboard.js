/* The leadership dashboard's charts (templates/dashboard.html): reads the JSON the page embeds in
   #dashboard-data and draws it with the vendored ECharts. Amounts arrive as exact decimal strings;
   they become numbers (万元) only to size the bars, and tooltips show the exact strings. Tooltips
   are drawn on the canvas (renderMode richText): HTML tooltips would carry style="" attributes,
   which the page's Content-Security-Policy refuses. */
(function () {
  "use strict";
  var source = document.getElementById("dashboard-data");
  if (!source || typeof echarts === "undefined" || !window.zhidaCharts) { return; }
  var data = JSON.parse(source.textContent);
  var report = data.report;
  var shared = window.zhidaCharts;
  var yuan = shared.yuan, wan = shared.wan, labelWidth = shared.labelWidth;
  var draw = shared.page();
  var COLORS = { allocated: "#bcccdc", committed: "#b42318", paid: "#0e7a4d" };
  var STATUS_COLORS = { behind: "#d92d20", not_reported: "#98a2b3", above_range: "#f79009",
                        on_track: "#2e90fa", reported: "#7a5af8", met: "#12b76a" };
  var NUMERALS = "一二三四五六七八九十";

  function areaName(row) {
    var number = parseInt(row.key, 10);
    var numeral = number >= 1 && number <= NUMERALS.length ? NUMERALS.charAt(number - 1) : row.key;
    return numeral + "、" + (row.name || "");
  }

  function percent(part, whole) {
    if (whole === null || whole === undefined || Number(whole) === 0) { return null; }
    return Math.round(Number(part) / Number(whole) * 10000) / 100;
  }

  /* Execution against the budget: committed and paid as % of each row's budget (areas, departments),
     so a department's 0.1% shows beside another's 60% whatever their sizes; the tooltip gives the
     exact amounts. */
  function executionBars(id, rows, nameOf) {
    var element = document.getElementById(id);
    if (!element || !rows.length) { return; }
    var ordered = rows.slice().reverse();
    function series(kind, label) {
      return {
        name: label, type: "bar", barMaxWidth: 14, itemStyle: { color: COLORS[kind] },
        data: ordered.map(function (row) { return { value: percent(row[kind], row.allocated), row: row }; })
      };
    }
    draw(id, {
      legend: { top: 0 },
      grid: { left: 8, right: 24, top: 32, bottom: 28, containLabel: true },
      tooltip: {
        trigger: "axis", renderMode: "richText", axisPointer: { type: "shadow" },
        formatter: function (items) {
          var row = items[0].data.row;
          return items[0].name + "\n预算:" + yuan(row.allocated) + " 元\n已承诺:" + yuan(row.committed) +
            " 元(" + (row.committed_share === null ? "—" : row.committed_share + "%") + ")\n已拨付:" + yuan(row.paid) + " 元";
        }
      },
      xAxis: { type: "value", name: "占预算 %", nameLocation: "middle", nameGap: 22, max: function (extent) {
        return Math.max(100, Math.ceil(extent.max / 10) * 10); }, axisLabel: { formatter: "{value}%" } },
      yAxis: { type: "category", data: ordered.map(nameOf),
               axisLabel: { width: labelWidth(element, 150), overflow: "truncate" } },
      series: [series("committed", "已承诺"), series("paid", "已拨付")]
    });
  }

  /* Committed and paid in 万元 per row (counties, rules: most have no budget of their own), with the
     allocation where one is set. */
  function moneyBars(id, rows, nameOf, withAllocated) {
    var element = document.getElementById(id);
    if (!element || !rows.length) { return; }
    var ordered = rows.slice().reverse();
    var kinds = [["committed", "已承诺"], ["paid", "已拨付"]];
    if (withAllocated) { kinds.unshift(["allocated", "分配预算"]); }
    draw(id, {
      legend: { top: 0 },
      grid: { left: 8, right: 24, top: 32, bottom: 28, containLabel: true },
      tooltip: {
        trigger: "axis", renderMode: "richText", axisPointer: { type: "shadow" },
        formatter: function (items) {
          return items[0].name + "\n" + items.map(function (item) {
            return item.seriesName + ":" + yuan(item.data.exact) + " 元";
          }).join("\n");
        }
      },
      xAxis: { type: "value", name: "万元", nameLocation: "middle", nameGap: 22, axisLabel: { hideOverlap: true } },
      yAxis: { type: "category", data: ordered.map(nameOf),
               axisLabel: { width: labelWidth(element, 150), overflow: "truncate" } },
      series: kinds.map(function (kind) {
        return {
          name: kind[1], type: "bar", barMaxWidth: 14, itemStyle: { color: COLORS[kind[0]] },
          data: ordered.map(function (row) { return { value: wan(row[kind[0]]), exact: row[kind[0]] }; })
        };
      })
    });
  }

  /* The targets' lines stacked by status, per department or county. */
  function statusBars(id, entries) {
    if (!entries.length) { return; }
    var element = document.getElementById(id);
    if (!element) { return; }
    var ordered = entries.slice().reverse();
    draw(id, {
      legend: { top: 0, type: "scroll" },
      grid: { left: 8, right: 16, top: 34, bottom: 28, containLabel: true },
      tooltip: { trigger: "axis", renderMode: "richText", axisPointer: { type: "shadow" } },
      xAxis: { type: "value", name: "条", nameLocation: "middle", nameGap: 22, minInterval: 1 },
      yAxis: { type: "category", data: ordered.map(function (entry) { return entry.name; }),
               axisLabel: { width: labelWidth(element, 110), overflow: "truncate" } },
      series: data.targets.statuses.map(function (status) {
        return {
          name: status[1], type: "bar", stack: "lines", barMaxWidth: 16,
          itemStyle: { color: STATUS_COLORS[status[0]] },
          data: ordered.map(function (entry) { return entry.counts[status[0]]; })
        };
      })
    });
  }

  var byKey = {};
  report.rules.forEach(function (row) { byKey[row.key] = row; });
  executionBars("chart-areas", report.areas, areaName);
  executionBars("chart-departments", report.departments.filter(function (row) { return row.allocated !== null; }),
                function (row) { return row.key; });
  moneyBars("chart-counties", report.counties, function (row) { return row.key; },
            report.counties.some(function (row) { return row.allocated !== null; }));
  moneyBars("chart-rules", data.top_rules.map(function (key) { return byKey[key]; }),
            function (row) { return row.name || row.key; }, false);
  statusBars("chart-target-departments", data.targets.departments);
  statusBars("chart-target-counties", data.targets.counties);
})();
