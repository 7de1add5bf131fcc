"""Check exported slides and pages in headless Chromium with the network blocked.

Driven by Playwright for Python with the system's Chromium (Debian's ``chromium`` package, or
``$COURSE_CHROMIUM``); Playwright never downloads a browser of its own here. A page is opened
from its file; every request to anything but a local file is recorded and refused.

``check_page`` reports remote requests, JavaScript console errors, images that did not load and
TeX left unrendered; ``check_deck`` does the same for a reveal.js deck and then visits every
slide and sub-slide at 1280x720, reporting each whose content does not fit (with a screenshot).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

VIEWPORT = {"width": 1280, "height": 720}
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")
# Pixels a slide's content may stick out (sub-pixel rounding of the scaled slide).
OVERFLOW_TOLERANCE_PX = 2
LOAD_TIMEOUT_MS = 30_000
TEX_LEFT = re.compile(r"\$[^$\s][^$]*\$|\\\(|\\\)|\\\[|\\\]|\\begin\{|\\frac\{")


def find_chromium() -> str | None:
    """Return the path of a Chromium executable (``$COURSE_CHROMIUM`` first), or None."""
    configured = os.environ.get("COURSE_CHROMIUM")
    if configured:
        return configured if Path(configured).is_file() else None
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def unavailable_reason() -> str | None:
    """Return why the browser checks cannot run here (no Chromium, no Playwright), or None."""
    if find_chromium() is None:
        return (
            "no Chromium found (apt-get install chromium, or set COURSE_CHROMIUM to a Chromium "
            "executable); .ci/run installs it"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install -e '.[test]')"
    return None


@dataclass
class SlideCheck:
    """One slide or sub-slide: reveal.js indices, heading, content size and what does not fit."""

    h: int
    v: int
    heading: str
    width: float
    height: float
    problems: list[str] = field(default_factory=list)
    screenshot: Path | None = None

    @property
    def label(self) -> str:
        """The slide's number as reveal.js shows it in the URL: ``h`` or ``h/v`` (from 0)."""
        return f"{self.h}/{self.v}" if self.v else f"{self.h}"


@dataclass
class PageCheck:
    """What a browser saw on one page: failures of each kind, and the slides of a deck."""

    path: Path
    remote_requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    broken_images: list[str] = field(default_factory=list)
    unrendered_tex: list[str] = field(default_factory=list)
    slides: list[SlideCheck] = field(default_factory=list)

    @property
    def overflowing(self) -> list[SlideCheck]:
        """The slides whose content does not fit the screen."""
        return [slide for slide in self.slides if slide.problems]

    def problems(self) -> list[str]:
        """Every failure as one line each (empty when the page is fine)."""
        lines = [f"remote request: {url}" for url in self.remote_requests]
        lines += [f"console error: {text}" for text in self.console_errors]
        lines += [f"failed request: {url}" for url in self.failed_requests]
        lines += [f"image not loaded: {src}" for src in self.broken_images]
        lines += [f"unrendered TeX: {text}" for text in self.unrendered_tex]
        for slide in self.overflowing:
            where = f"slide {slide.label} {slide.heading!r}"
            lines.append(f"{where}: {'; '.join(slide.problems)}")
        return lines


@contextmanager
def open_browser() -> Iterator[object]:
    """Start headless Chromium through Playwright; yield the Playwright ``Browser``."""
    reason = unavailable_reason()
    if reason:
        raise RuntimeError(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=find_chromium(),
            headless=True,
            args=["--disable-gpu", "--no-first-run", "--disable-background-networking"],
        )
        try:
            yield browser
        finally:
            browser.close()


_VISIBLE_TEXT_JS = """() => {
  const skip = 'script, style, pre, code, textarea, .jp-InputArea, .highlight, .MathJax_Preview';
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const texts = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (parent && !parent.closest(skip) && node.textContent.trim()) texts.push(node.textContent);
  }
  const errors = [...document.querySelectorAll('.MathJax_Error, .noError, merror')]
    .map(e => 'MathJax error: ' + e.textContent.slice(0, 80));
  return {texts, errors};
}"""

_BROKEN_IMAGES_JS = """() => [...document.images]
  .filter(img => !img.complete || img.naturalWidth === 0)
  .map(img => (img.getAttribute('src') || '').slice(0, 120))"""

# MathJax 3 typeset the page: "done", "absent" (no MathJax on the page) or "timeout".
_MATHJAX_DONE_JS = """(ms) => new Promise(resolve => {
  if (!window.MathJax || !MathJax.startup || !MathJax.startup.promise) { resolve('absent'); return; }
  setTimeout(() => resolve('timeout'), ms);
  MathJax.startup.promise.then(() => resolve('done'), () => resolve('failed'));
})"""
MATHJAX_TIMEOUT_MS = 60_000

_SLIDE_INDICES_JS = """() => {
  Reveal.configure({transition: 'none', backgroundTransition: 'none'});
  return Reveal.getSlides().map(s => Reveal.getIndices(s));
}"""

_MEASURE_SLIDE_JS = """(tolerance) => {
  // What a reader sees of the current slide: glyphs of text and replaced elements (images,
  // SVG, canvas, form controls), each clipped by any ancestor that hides or scrolls overflow.
  const slide = Reveal.getCurrentSlide();
  const scale = Reveal.getScale();
  const box = document.querySelector('.reveal .slides').getBoundingClientRect();
  const area = {left: Math.max(box.left, 0), top: Math.max(box.top, 0),
                right: Math.min(box.right, window.innerWidth),
                bottom: Math.min(box.bottom, window.innerHeight)};
  // Text no reader sees: speaker notes, and the MathML copy MathJax keeps for screen readers.
  const hiddenText = 'aside.notes, script, style, mjx-assistive-mml, .MJX_Assistive_MathML';
  const items = [];
  const walker = document.createTreeWalker(slide, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (!node.textContent.trim() || !parent || parent.closest(hiddenText)) continue;
    // A folded answer: Chromium lays out a closed <details> body without showing it.
    if (parent.closest('details:not([open])') && !parent.closest('summary')) continue;
    const range = document.createRange();
    range.selectNodeContents(node);
    for (const r of range.getClientRects()) if (r.width > 0 && r.height > 0) items.push([r, parent]);
  }
  for (const el of slide.querySelectorAll('img, svg, canvas, video, iframe, input, button, select')) {
    if (el.closest('aside.notes') || (el.parentElement && el.parentElement.closest('svg'))) continue;
    if (el.closest('details:not([open])') && !el.closest('summary')) continue;
    const r = el.getBoundingClientRect();
    if (r.width > 0 && r.height > 0) items.push([r, el]);
  }
  const clipCache = new Map();
  const clippers = (el) => {
    if (clipCache.has(el)) return clipCache.get(el);
    let list = [];
    const parent = el.parentElement;
    if (el !== slide && parent) {
      list = clippers(parent).slice();
      const style = getComputedStyle(parent);
      if (parent !== slide && (style.overflowX !== 'visible' || style.overflowY !== 'visible'))
        list.push(parent);
    }
    clipCache.set(el, list);
    return list;
  };
  const name = (el) => el.tagName.toLowerCase() + (typeof el.className === 'string'
    && el.className.trim() ? '.' + el.className.trim().split(/\\s+/)[0] : '');
  let top = Infinity, bottom = -Infinity, left = Infinity, right = -Infinity;
  const cut = new Map();
  for (const [r, el] of items) {
    let hidden = false;
    for (const clip of clippers(el)) {
      const c = clip.getBoundingClientRect();
      const over = Math.max(r.right - c.right, c.left - r.left, r.bottom - c.bottom, c.top - r.top);
      if (over / scale > tolerance) {
        const key = name(clip);
        cut.set(key, Math.max(cut.get(key) || 0, over / scale));
        hidden = true;
      }
    }
    if (hidden) continue;
    top = Math.min(top, r.top); bottom = Math.max(bottom, r.bottom);
    left = Math.min(left, r.left); right = Math.max(right, r.right);
  }
  const heading = slide.querySelector('h1, h2, h3, h4, h5, h6');
  const text = (heading ? heading.textContent : slide.textContent).replace(/\u00b6/g, '').trim();
  const found = isFinite(top);
  return {
    heading: text.replace(/\\s+/g, ' ').slice(0, 80),
    width: found ? (right - left) / scale : 0,
    height: found ? (bottom - top) / scale : 0,
    below: found ? (bottom - area.bottom) / scale : 0,
    above: found ? (area.top - top) / scale : 0,
    right: found ? (right - area.right) / scale : 0,
    left: found ? (area.left - left) / scale : 0,
    cut: [...cut.entries()].slice(0, 3).map(([k, v]) => `${k} hides ${Math.round(v)}px`),
  };
}"""


def _slide_problems(measured: dict) -> list[str]:
    problems = []
    tolerance = OVERFLOW_TOLERANCE_PX
    if measured["below"] > tolerance or measured["above"] > tolerance:
        over = max(measured["below"], 0) + max(measured["above"], 0)
        problems.append(f"too tall: content {measured['height']:.0f}px, {over:.0f}px off screen")
    if measured["right"] > tolerance or measured["left"] > tolerance:
        over = max(measured["right"], 0) + max(measured["left"], 0)
        problems.append(f"too wide: content {measured['width']:.0f}px, {over:.0f}px off screen")
    problems += [f"content cut: {what}" for what in measured["cut"]]
    return problems


def _screenshot_name(path: Path, label: str) -> str:
    stem = path.name.removesuffix(".html").replace(".", "-")
    return f"{stem}-slide-{label.replace('/', '-')}.png"


def check_page(
    browser: object,
    path: str | Path,
    *,
    slides: bool = False,
    screenshot_dir: str | Path | None = None,
) -> PageCheck:
    """Open ``path`` (a local HTML file) with the network blocked; return what went wrong.

    With ``slides=True`` the page is a reveal.js deck: every slide and sub-slide is shown in
    turn and measured against the 1280x720 screen; a screenshot of each one that does not fit
    goes to ``screenshot_dir`` (when given).
    """
    path = Path(path).resolve()
    result = PageCheck(path)
    context = browser.new_context(viewport=VIEWPORT, java_script_enabled=True)
    context.set_default_timeout(LOAD_TIMEOUT_MS)

    def route(request_route) -> None:
        url = request_route.request.url
        if url.startswith(LOCAL_SCHEMES):
            request_route.continue_()
        else:
            result.remote_requests.append(url)
            request_route.abort("blockedbyclient")

    context.route("**/*", route)
    page = context.new_page()

    def console(message) -> None:
        if message.type == "error":
            location = message.location.get("url", "") if message.location else ""
            result.console_errors.append(f"{message.text} ({location})")

    page.on("console", console)
    page.on("pageerror", lambda error: result.console_errors.append(str(error)))

    def failed(request) -> None:
        if request.url.startswith("file:"):
            result.failed_requests.append(request.url)

    page.on("requestfailed", failed)
    try:
        page.goto(path.as_uri(), wait_until="load")
        mathjax = page.evaluate(_MATHJAX_DONE_JS, MATHJAX_TIMEOUT_MS)
        if mathjax != "done":
            result.unrendered_tex.append(f"MathJax did not typeset the page: {mathjax}")
        result.broken_images = page.evaluate(_BROKEN_IMAGES_JS)
        if slides:
            result.slides = _check_slides(page, path, screenshot_dir)
        visible = page.evaluate(_VISIBLE_TEXT_JS)
        for text in visible["texts"]:
            match = TEX_LEFT.search(text)
            if match:
                start = max(match.start() - 30, 0)
                result.unrendered_tex.append(text[start : match.end() + 30].strip())
        result.unrendered_tex += visible["errors"]
    finally:
        context.close()
    return result


def _check_slides(page, path: Path, screenshot_dir: str | Path | None) -> list[SlideCheck]:
    page.wait_for_function("() => window.Reveal && Reveal.isReady()")
    checks = []
    for indices in page.evaluate(_SLIDE_INDICES_JS):
        h, v = indices["h"], indices.get("v") or 0
        page.evaluate("([h, v]) => Reveal.slide(h, v, 1000)", [h, v])
        page.evaluate("() => new Promise(r => requestAnimationFrame(() => r()))")
        measured = page.evaluate(_MEASURE_SLIDE_JS, OVERFLOW_TOLERANCE_PX)
        check = SlideCheck(h, v, measured["heading"], measured["width"], measured["height"], [])
        check.problems = _slide_problems(measured)
        if check.problems and screenshot_dir is not None:
            target = Path(screenshot_dir) / _screenshot_name(path, check.label)
            target.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(target))
            check.screenshot = target
        checks.append(check)
    return checks


def check_deck(
    browser: object, path: str | Path, screenshot_dir: str | Path | None = None
) -> PageCheck:
    """Check a reveal.js deck: ``check_page`` plus every slide measured against 1280x720."""
    return check_page(browser, path, slides=True, screenshot_dir=screenshot_dir)
