// A consumer of the installed package, as a web developer would write it: type-checked by
// tsc (make test-package), bundled by Vite and run in headless Chromium by
// web/e2e's TestBundledPackage, which reads window.outcome.
//   ?model=…&image=…&q=…&max=…   (an empty q asks for a caption)
import { GitVQA, VQAError, protocol, type ErrorCode, type LoadProgress, type Result } from 'gitvqa';

declare global {
  interface Window {
    outcome?: { text?: string; ids?: number[]; kernels?: string; code?: ErrorCode | string; progressEvents?: number };
  }
}

const params = new URLSearchParams(location.search);
const status = document.getElementById('status')!;

async function run(): Promise<void> {
  GitVQA.assetsURL = 'gitvqa/';
  let progressEvents = 0;
  const vqa = await GitVQA.load({
    model: params.get('model') ?? 'models/e2e/',
    workers: 1,
    onProgress: (p: LoadProgress) => {
      progressEvents++;
      status.textContent = `${p.phase} ${p.loaded}/${p.total}`;
    },
  });
  const picture = await (await fetch(params.get('image') ?? '')).blob();
  const question = params.get('q') ?? '';
  const maxTokens = Number(params.get('max') ?? 20);
  const r: Result = question === ''
    ? await vqa.caption(picture, { maxTokens })
    : await vqa.ask(picture, question, { maxTokens, onToken: (soFar) => { status.textContent = soFar; } });
  // @ts-expect-error: a question is a string; the types must refuse a number
  void (() => vqa.ask(picture, 42));
  // @ts-expect-error: kernels is one of protocol's kernel sets
  void (() => GitVQA.load({ kernels: 'cuda' }));
  const encodeMs: number = r.timings.encodeMs;
  status.textContent = `${r.text} (${encodeMs} ms to encode)`;
  window.outcome = { text: r.text, ids: r.ids, kernels: vqa.info.kernels, progressEvents };
  vqa.close();
}

run().catch((err: unknown) => {
  window.outcome = { code: err instanceof VQAError ? err.code : String(err) };
  status.textContent = `failed: ${String(err)}`;
  void protocol.CodeInternal;
});
