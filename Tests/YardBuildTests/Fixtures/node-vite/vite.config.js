export default { build: { outDir: './public-build' } }
