// The calculator page (templates/calc.html): each money field's amount read back in 元 and 万元 while
// typing, and the "复制链接" button of a result. The grammar is zhida/engine/money_text.py's (the server
// reads the form with it and renders the same read-back; this only keeps it current between requests).
"use strict";

(function () {
  var form = document.getElementById("calc");
  if (!form) return;
  var words = form.dataset;
  var MONEY = /^(-?)(0|[1-9][0-9]*|[1-9][0-9]{0,2}(?:,[0-9]{3})+)(?:\.([0-9]+))?[ \u3000]*([万萬亿億]?)[ \u3000]*(元?)$/;
  var PLACES = { "": 0, "万": 4, "萬": 4, "亿": 8, "億": 8 };

  function group(digits) {
    return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  }

  // The amount of `text` in 分 as a digit string, or {problem: words}: the decimal point is moved in the
  // text (30万 -> 300000), never through a binary float.
  function read(text) {
    var match = MONEY.exec(text.trim());
    if (!match) return { problem: words.unreadable };
    var whole = match[2].replace(/,/g, "");
    var fraction = match[3] || "";
    var places = PLACES[match[4]];
    var padded = fraction.length < places ? fraction + "0".repeat(places - fraction.length) : fraction;
    whole = (whole + padded.slice(0, places)).replace(/^0+/, "") || "0";
    fraction = padded.slice(places);
    if (match[1] && (whole !== "0" || /[1-9]/.test(fraction))) return { problem: words.negative };
    if (whole.length > 15) return { problem: words.large };
    if (fraction.length > 2) return { problem: words.places };
    return { fen: (whole + (fraction + "00").slice(0, 2)).replace(/^0+/, "") || "0" };
  }

  // "300,000.00 元(30 万元)", as money_text.describe writes it.
  function describe(fen) {
    var padded = fen.length < 7 ? "0".repeat(7 - fen.length) + fen : fen;
    var yuan = group(padded.slice(0, -2).replace(/^0+/, "") || "0") + "." + padded.slice(-2);
    var wanFraction = padded.slice(-6).replace(/0+$/, "");
    var wan = group(padded.slice(0, -6).replace(/^0+/, "") || "0") + (wanFraction ? "." + wanFraction : "");
    return "= " + yuan + " " + words.yuan + "(" + wan + " " + words.wan + ")";
  }

  function update(input) {
    var output = document.getElementById(input.dataset.readback);
    if (!output) return;
    var text = input.value.trim();
    var answer = text ? read(text) : { fen: null };
    output.classList.toggle("bad", Boolean(answer.problem));
    output.textContent = answer.problem || (answer.fen === null ? "" : describe(answer.fen));
  }

  form.querySelectorAll("input[data-readback]").forEach(function (input) {
    input.addEventListener("input", function () { update(input); });
  });

  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var source = document.getElementById(button.dataset.copy);
    if (!source) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      var done = function () { button.textContent = button.dataset.done; };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(source.value).then(done, function () { source.select(); });
      } else {
        source.select();
        if (document.execCommand("copy")) done();
      }
    });
  });
})();
