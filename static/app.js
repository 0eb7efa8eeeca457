// The demo page: picks a picture, asks questions, shows progress. All model work is in
// vqa.js's worker; this file only does UI.
import { GitVQA, VQAError } from './vqa.js';
import { protocol as P } from './protocol.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);

// Which model: ?model=FOLDER, else the one the user chose last (if the site still lists
// it), else the default of models/index.json (tools/modelindex: `make demo`, `make serve`
// and `make model` write it), else the real one. The index's models fill the switcher.
async function chooseModel() {
  let index = null;
  try {
    const r = await fetch('models/index.json', { cache: 'no-cache' });
    if (r.ok) index = await r.json();
  } catch { /* offline: fall through */ }
  const models = index?.models || [];
  const chosen = params.get('model') || (models.some((m) => m.path === localStorage.getItem('gitvqa.model')) && localStorage.getItem('gitvqa.model'))
    || index?.default || localStorage.getItem('gitvqa.model') || 'models/git-large-vqav2/';
  showModels(models, chosen);
  return chosen;
}

const taskNames = { [P.TaskVQA]: 'answers questions', [P.TaskCaption]: 'describes pictures' };

// showModels lists the site's models; choosing one reloads the page with it (its worker
// and memory go with the old page).
function showModels(models, current) {
  const select = $('model-select');
  if (models.length < 2) return;
  select.replaceChildren(...models.map((m) => {
    const o = document.createElement('option');
    o.value = m.path;
    o.textContent = `${m.name} — ${mb(m.bytes)}, ${taskNames[m.task] || m.task}`;
    o.selected = m.path === current;
    return o;
  }));
  if (!models.some((m) => m.path === current)) {
    const o = document.createElement('option');
    o.value = current;
    o.textContent = current;
    o.selected = true;
    select.prepend(o);
  }
  select.hidden = false;
  select.onchange = () => {
    localStorage.setItem('gitvqa.model', select.value);
    const next = new URLSearchParams(location.search);
    next.set('model', select.value);
    location.search = next.toString();
  };
}

const state = { vqa: null, image: null, busy: null };

// The page keeps working offline once visited: sw.js serves these files from its cache.
if ('serviceWorker' in navigator && params.get('sw') !== '0') {
  navigator.serviceWorker.register('sw.js').catch(() => {});
}

function show(el, text) {
  el.textContent = text || '';
  el.hidden = !text;
}

function mb(n) {
  return (n / 1e6).toFixed(n < 1e7 ? 1 : 0) + ' MB';
}

function setBar(id, fraction, label) {
  const bar = $(id);
  bar.hidden = false;
  bar.querySelector('.fill').style.transform = `scaleX(${Math.max(0, Math.min(1, fraction))})`;
  bar.querySelector('.label').textContent = label;
}

// ---- loading ---------------------------------------------------------------------------

function downloadProgress() {
  const start = performance.now();
  let firstNet = null;
  return (p) => {
    const fraction = p.total ? p.loaded / p.total : 0;
    let label;
    if (p.phase === P.PhaseLoad) {
      label = 'Preparing the model…';
    } else if (p.phase === P.PhaseVerify) {
      label = `Checking the cached model: ${mb(p.loaded)} of ${mb(p.total)}`;
    } else {
      const net = p.loaded - p.fromCache;
      if (firstNet === null && net > 0) firstNet = { t: performance.now(), bytes: net };
      let eta = '';
      if (firstNet && net > firstNet.bytes) {
        const rate = (net - firstNet.bytes) / ((performance.now() - firstNet.t) / 1000);
        const left = (p.total - p.loaded) / rate;
        if (isFinite(left)) eta = ` — about ${left < 90 ? Math.ceil(left) + ' s' : Math.ceil(left / 60) + ' min'} left`;
      }
      label = `Downloading the model: ${mb(p.loaded)} of ${mb(p.total)}${p.fromCache ? ` (${mb(p.fromCache)} cached)` : ''}${eta}`;
    }
    setBar('download-bar', fraction, label);
    $('load-status').textContent = 'Loading the model…';
    $('download-bar').dataset.elapsed = String(performance.now() - start);
  };
}

async function loadModel() {
  $('retry-load').hidden = true;
  $('load-status').className = '';
  const modelURL = await chooseModel();
  try {
    const workers = params.get('workers') ? Number(params.get('workers')) : undefined;
    state.vqa = await GitVQA.load({
      model: modelURL, onProgress: downloadProgress(), exact: params.get('exact') === '1', workers, kernels: params.get('kernels') || undefined,
      device: params.get('device') || undefined,
      stallMs: params.get('stallMs') ? Number(params.get('stallMs')) : undefined,
    });
    localStorage.setItem('gitvqa.model', modelURL);
  } catch (err) {
    $('load-status').textContent = `Could not load the model: ${err.message}`;
    $('load-status').className = 'error';
    $('download-bar').hidden = true;
    $('retry-load').hidden = false;
    return;
  }
  const info = state.vqa.info;
  $('download-bar').hidden = true;
  // Which device runs: the GPU when it passed its self-test (and on 'auto' outran the
  // CPU); else, where the GPU was asked for, why not (the title always says).
  const onGPU = info.kernels === P.KernelsWebGPU;
  const device = onGPU ? ` on the GPU (${info.kernelsNote})` : params.get('device') === 'webgpu' ? ` on the CPU (${info.kernelsNote})` : ' on the CPU';
  const ready = `Model ready in ${(info.loadMs / 1000).toFixed(1)} s${device}`;
  const status = (where) => {
    $('load-status').textContent = `${ready} (${mb(info.bytes)}, ${where}${info.offline ? ', offline' : ''}).${info.warning ? ' ' + info.warning : ''}`;
    $('load-status').dataset.offlineReady = where === 'cached for offline use' ? '1' : '0';
  };
  if (info.storage !== P.StorageIndexedDB) {
    status('running from memory');
  } else {
    // Offline use needs the page's own files too (the service worker's cache), not just
    // the model: say so only once both are stored.
    status('model cached; checking that this page is stored for offline use');
    shellStatus().then((s) => status(s === 'cached' ? 'cached for offline use'
      : s === 'storing' ? 'model cached; this page is still being stored for offline use'
        : 'model cached, but the browser would not store this page itself, so it will not open offline'));
  }
  $('load-status').dataset.ready = '1';
  $('load-status').dataset.offline = info.offline ? '1' : '0';
  $('load-status').dataset.loadMs = String(info.loadMs);
  $('load-status').dataset.kernels = info.kernels || '';
  $('load-status').dataset.exact = info.exact ? '1' : '0';
  $('load-status').dataset.phases = JSON.stringify(info.phases || []);
  $('load-status').dataset.memoryBytes = String(info.memoryBytes || 0);
  if (info.kernelsNote) $('load-status').title = info.kernelsNote;
  // A captioning model only describes: a question would just start its caption.
  const captions = info.model.task === P.TaskCaption;
  $('question').hidden = captions;
  $('ask').hidden = captions;
  $('ask-panel').dataset.task = info.model.task || P.TaskVQA;
  const note = [info.model.description, captions ? 'This model describes pictures; it does not answer questions: press Describe.' : ''].filter(Boolean).join(' ');
  if (note) show($('model-note'), note);
  updateButtons();
  refreshCache();
  state.vqa.sharing.then((n) => {
    $('load-status').dataset.shards = JSON.stringify(state.vqa.shardInfo);
    $('load-status').dataset.workers = String(n);
    if (n > 1) $('load-status').textContent += ` ${n} workers share the picture's work.`;
  });
}

$('retry-load').addEventListener('click', () => {
  $('load-status').textContent = 'Starting…';
  loadModel();
});

// shellStatus says whether the service worker holds every file of the page: 'cached',
// 'storing' (still installing: asked again when it is done) or 'no'.
async function shellStatus() {
  if (!('serviceWorker' in navigator)) return 'no';
  const reg = await navigator.serviceWorker.getRegistration();
  if (!reg) return 'no';
  const sw = reg.active || reg.waiting || reg.installing;
  if (!reg.active) {
    if (!sw || sw.state === 'redundant') return 'no';
    await new Promise((resolve) => sw.addEventListener('statechange', function done() {
      if (sw.state === 'activated' || sw.state === 'redundant') { sw.removeEventListener('statechange', done); resolve(); }
    }));
    if (sw.state === 'redundant') return 'no';
  }
  const ch = new MessageChannel();
  const answer = new Promise((resolve) => { ch.port1.onmessage = (e) => resolve(e.data); setTimeout(() => resolve(null), 5000); });
  (reg.active || sw).postMessage({ type: 'shell-status' }, [ch.port2]);
  const r = await answer;
  return r && r.cached === r.total ? 'cached' : 'no';
}

// ---- the picture -------------------------------------------------------------------------

function setImage(image, previewURL) {
  state.image = image;
  stopCamera();
  const img = $('preview');
  if (previewURL) {
    img.src = previewURL;
    img.hidden = false;
  }
  show($('picture-error'), '');
  $('drop-hint').hidden = true;
  updateButtons();
}

function takeFile(file) {
  if (!file) return;
  // The file's bytes go to the worker as they are (decoded there exactly as the model
  // was trained); the preview is only for the eye.
  setImage(file, URL.createObjectURL(file));
}

$('file').addEventListener('change', (e) => takeFile(e.target.files[0]));
const drop = $('drop');
drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  const file = [...(e.dataTransfer?.files || [])][0];
  if (file) takeFile(file);
});
window.addEventListener('paste', (e) => {
  const item = [...(e.clipboardData?.items || [])].find((i) => i.kind === 'file');
  if (item) takeFile(item.getAsFile());
});

let stream = null;
if (navigator.mediaDevices?.getUserMedia) $('camera').hidden = false;
$('camera').addEventListener('click', async () => {
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: true });
  } catch (err) {
    show($('picture-error'), `The camera is not available: ${err.message}`);
    return;
  }
  const v = $('camera-view');
  v.srcObject = stream;
  v.hidden = false;
  $('preview').hidden = true;
  $('snap').hidden = false;
  await v.play();
});
$('snap').addEventListener('click', () => {
  const v = $('camera-view');
  const canvas = document.createElement('canvas');
  canvas.width = v.videoWidth;
  canvas.height = v.videoHeight;
  canvas.getContext('2d').drawImage(v, 0, 0);
  setImage(canvas, canvas.toDataURL());
});
function stopCamera() {
  stream?.getTracks().forEach((t) => t.stop());
  stream = null;
  $('camera-view').hidden = true;
  $('snap').hidden = true;
}

// ---- asking ------------------------------------------------------------------------------

function updateButtons() {
  const ready = Boolean(state.vqa) && Boolean(state.image) && !state.busy;
  $('ask').disabled = !ready;
  $('describe').disabled = !ready;
  $('cancel').disabled = !state.busy;
}

const phaseNames = { [P.PhaseEncode]: 'Looking at the picture', [P.PhasePrefill]: 'Reading the question', [P.PhaseDecode]: 'Answering' };

/** Asks about image (any type vqa.ask takes); question null means describe. */
export async function ask(image, question) {
  show($('ask-error'), '');
  $('answer').textContent = '';
  $('timings').textContent = '';
  delete $('answer').dataset.done;
  if (!state.vqa) return showError(new Error('The model is not loaded yet.'));
  const controller = new AbortController();
  state.busy = controller;
  updateButtons();
  const maxTokens = Number($('max-tokens').value) || 20;
  const opts = {
    maxTokens,
    profile: params.get('profile') === '1',
    signal: controller.signal,
    onToken: (text) => { $('answer').textContent = text; },
    onProgress: (p) => setBar('compute-bar', p.total ? p.done / p.total : 0, `${phaseNames[p.phase] || p.phase}: ${p.done} / ${p.total}`),
  };
  try {
    const r = question === null ? await state.vqa.caption(image, opts) : await state.vqa.ask(image, question, opts);
    $('answer').textContent = r.text || '(no answer)';
    $('answer').dataset.done = '1';
    const t = r.timings;
    $('timings').textContent = t.imageCached
      ? `${(t.totalMs / 1000).toFixed(2)} s (picture already seen: ${t.tokens} tokens in ${(t.promptMs + t.decodeMs).toFixed(0)} ms)`
      : `${(t.totalMs / 1000).toFixed(2)} s: picture ${(t.encodeMs / 1000).toFixed(2)} s (decoded in ${t.preprocessMs.toFixed(0)} ms), reading ${((t.imagePrefillMs + t.promptMs) / 1000).toFixed(2)} s, ${t.tokens} tokens ${(t.decodeMs / 1000).toFixed(2)} s`;
    $('timings').dataset.json = JSON.stringify(t);
    if (r.profile) $('timings').dataset.profile = JSON.stringify(r.profile);
    return r;
  } catch (err) {
    showError(err);
    return null;
  } finally {
    state.busy = null;
    $('compute-bar').hidden = true;
    updateButtons();
  }
}

function showError(err) {
  const prefix = err instanceof VQAError && err.code === P.CodeCancelled ? 'Stopped.' : 'Sorry:';
  show($('ask-error'), `${prefix} ${err.message}`);
  $('ask-error').dataset.code = err.code || 'internal';
  return null;
}

$('ask-form').addEventListener('submit', (e) => {
  e.preventDefault();
  if (!$('ask').disabled) ask(state.image, $('question').value);
});
$('describe').addEventListener('click', () => ask(state.image, null));
$('cancel').addEventListener('click', () => state.busy?.abort());

// ---- the cache ----------------------------------------------------------------------------

async function refreshCache() {
  try {
    const models = await GitVQA.cache.list();
    const bytes = models.reduce((s, m) => s + m.bytes, 0);
    const est = await GitVQA.cache.estimate();
    $('cache-size').textContent = models.length
      ? `Cache: ${models.length} model${models.length > 1 ? 's' : ''}, ${mb(bytes)}${est.quota ? ` (this site may store ${mb(est.quota)})` : ''}`
      : 'Cache: empty';
    $('cache-size').dataset.bytes = String(bytes);
  } catch (err) {
    $('cache-size').textContent = `Cache: not available (${err.message})`;
  }
}
$('clear-cache').addEventListener('click', async () => {
  await GitVQA.cache.clear();
  refreshCache();
});

// For tests and the curious: the page's state and its ask function.
window.gitvqaDemo = { state, ask, refreshCache, cache: GitVQA.cache };
loadModel();
