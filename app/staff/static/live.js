// Live transcript of a call in progress: polls for new lines and appends them (no framework).
// Text is set with textContent, never as HTML: what a caller says cannot become markup.
(function () {
  "use strict";
  var list = document.getElementById("transcript-list");
  if (!list || !list.dataset.liveUrl) { return; }
  var after = parseInt(list.dataset.after || "-1", 10);
  var status = document.getElementById("live-status");
  var badge = document.getElementById("live-badge");
  var empty = document.getElementById("no-transcript");
  var delay = 2000;
  var liveText = status ? status.textContent : "";

  function offset(ms) {
    var s = Math.floor(ms / 1000);
    var m = Math.floor(s / 60);
    s = s % 60;
    return (m < 10 ? "0" : "") + m + ":" + (s < 10 ? "0" : "") + s;
  }

  function add(turn) {
    var li = document.createElement("li");
    li.className = "turn " + (turn.speaker === "caller" ? "caller" : "agent") +
      (turn.interrupted ? " interrupted" : "");
    var meta = document.createElement("span");
    meta.className = "meta";
    var who = document.createElement("span");
    who.className = "speaker";
    who.textContent = turn.speaker === "caller" ? "Caller" : "Receptionist";
    var at = document.createElement("span");
    at.className = "muted small";
    at.textContent = offset(turn.offset_ms);
    meta.appendChild(who);
    meta.appendChild(document.createTextNode(" "));
    meta.appendChild(at);
    var text = document.createElement("span");
    text.className = "text";
    text.textContent = turn.text;
    li.appendChild(meta);
    li.appendChild(text);
    if (turn.interrupted) {
      var flag = document.createElement("span");
      flag.className = "flag";
      flag.textContent = "interrupted: the caller heard only this much";
      li.appendChild(flag);
    }
    list.appendChild(li);
    if (empty) { empty.remove(); empty = null; }
  }

  function poll() {
    fetch(list.dataset.liveUrl + "?after=" + after, { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      })
      .then(function (data) {
        data.turns.forEach(function (turn) { add(turn); after = Math.max(after, turn.seq); });
        if (data.live) {
          delay = 2000;
          if (status) { status.textContent = liveText; }
          setTimeout(poll, delay);
        } else {
          if (status) { status.textContent = "The call has ended. Reload for the outcome and duration."; }
          if (badge) { badge.textContent = "Ended"; badge.className = "badge"; }
        }
      })
      .catch(function () {
        // Signed out or the service is restarting: slow down, keep trying.
        delay = Math.min(delay * 2, 30000);
        if (status) { status.textContent = "Reconnecting…"; }
        setTimeout(poll, delay);
      });
  }

  setTimeout(poll, delay);
}());
