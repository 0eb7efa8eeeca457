// The scratch app that make test-package installs gitvqa's tarball into and bundles: its
// assets are copied into public/gitvqa/ (see the package's README), served as they are.
export default { base: './', logLevel: 'warn', build: { target: 'es2022' } };
