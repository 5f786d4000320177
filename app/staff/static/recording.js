// The call's recording beside its transcript: a click on a line seeks the player there, and the
// line being played is highlighted. Offsets are on the transcript's clock; the recording starts
// at data-recording-start (after the caller heard the disclosure), so earlier lines seek to 0.
(function () {
  "use strict";
  var player = document.getElementById("recording-player");
  var list = document.getElementById("transcript-list");
  var problem = document.getElementById("recording-error");
  if (!player || !list) { return; }
  var start = parseInt(list.dataset.recordingStart || "0", 10);
  var lines = Array.prototype.slice.call(list.querySelectorAll("li.turn[data-offset-ms]"));
  var playing = null;

  function at(line) { return parseInt(line.dataset.offsetMs, 10); }

  lines.forEach(function (line) {
    line.classList.add("seekable");
    line.title = "Play from here";
    line.addEventListener("click", function () {
      player.currentTime = Math.max(0, (at(line) - start) / 1000);
      highlight();
      var started = player.play();
      if (started && started.catch) { started.catch(function () {}); }
    });
  });

  function highlight() {
    var now = start + player.currentTime * 1000;
    var current = null;
    lines.forEach(function (line) { if (at(line) <= now) { current = line; } });
    if (current === playing) { return; }
    if (playing) { playing.classList.remove("playing"); playing.removeAttribute("aria-current"); }
    playing = current;
    if (playing) { playing.classList.add("playing"); playing.setAttribute("aria-current", "true"); }
  }

  player.addEventListener("timeupdate", highlight);
  player.addEventListener("seeked", highlight);

  // Why it cannot play, in words: the media route answers 404 (gone at Twilio) or 502 (Twilio
  // unreachable) with a sentence for the page.
  function explain() {
    if (!problem) { return; }
    fetch(player.currentSrc || player.src, { headers: { Range: "bytes=0-0" }, credentials: "same-origin" })
      .then(function (response) { return response.ok ? "" : response.text(); })
      .then(function (text) {
        problem.textContent = text || "The recording could not be played just now.";
        problem.hidden = false;
      })
      .catch(function () {
        problem.textContent = "The recording could not be loaded: the service did not answer.";
        problem.hidden = false;
      });
  }

  player.addEventListener("error", explain);
  if (player.error) { explain(); }  // it failed before this deferred script ran
}());
