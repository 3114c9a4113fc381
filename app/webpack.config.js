/* eslint-disable @typescript-eslint/no-require-imports -- webpack loads its config as CommonJS */
// Builds the JupyterLab front end (with the interLink extension bundled in) into
// jupyterlab_interlink/static, which the Python launcher serves.
//   webpack --mode=production    minified, no source maps (the default of `npm run build`)
//   webpack --mode=development   fast, source maps (`npm run build:dev`)
const path = require('path');
const webpack = require('webpack');
const MiniCssExtractPlugin = require('mini-css-extract-plugin');
const miniSVGDataURI = require('mini-svg-data-uri');
const { Build } = require('@jupyterlab/builder');

const pkg = require('./package.json');

// APP_OUTPUT_DIR builds elsewhere (e.g. to measure a build while tests use the served one).
const staticDir = path.resolve(
  process.env.APP_OUTPUT_DIR ?? path.join(__dirname, '../jupyterlab_interlink/static')
);
const buildDir = path.resolve(__dirname, 'build');
const extensionDir = path.dirname(require.resolve('@jupyterlab-interlink/extension/package.json'));

module.exports = (env, argv) => {
  const production = argv.mode !== 'development';

  // Copies each plugin package's settings schemas to static/schemas, writes build/style.js
  // (imports of every package's CSS) and returns one small webpack config per theme.
  const themeConfigs = Build.ensureAssets({
    packageNames: [...pkg.jupyterlab.extensions, ...pkg.jupyterlab.mimeExtensions],
    output: buildDir,
    schemaOutput: staticDir,
    themeOutput: staticDir
  });

  const app = {
    name: 'app',
    mode: production ? 'production' : 'development',
    entry: { main: './src/index.js' },
    output: {
      path: staticDir,
      filename: production ? '[name].[contenthash:12].js' : '[name].js',
      chunkFilename: production ? '[name].[contenthash:12].js' : '[name].js',
      assetModuleFilename: 'assets/[name].[contenthash:8][ext]',
      hashFunction: 'sha256',
      // Schemas and themes live here too and are written by the build; only remove our chunks.
      clean: { keep: /^(schemas|themes)\// }
    },
    devtool: production ? false : 'eval-cheap-module-source-map',
    bail: true,
    resolve: {
      alias: {
        // The extension's declared stylesheet is the repository's top-level style/.
        '@jupyterlab-interlink/extension/style/index.css': path.resolve(
          __dirname,
          '../style/index.css'
        )
      },
      fallback: {
        url: false,
        buffer: false,
        crypto: false,
        path: require.resolve('path-browserify'),
        process: require.resolve('process/browser')
      }
    },
    module: {
      rules: [
        { test: /\.raw\.css$/, type: 'asset/source' },
        { test: /(?<!\.raw)\.css$/, use: [MiniCssExtractPlugin.loader, 'css-loader'] },
        { test: /\.(md|txt)$/, type: 'asset/source' },
        { test: /\.(jpg|png|gif|woff2?|ttf|eot)(\?.*)?$/, type: 'asset/resource' },
        // In CSS an SVG becomes a data URI; imported from JavaScript it is the SVG text (LabIcon).
        {
          test: /\.svg(\?.*)?$/,
          issuer: /\.css$/,
          type: 'asset',
          generator: { dataUrl: content => miniSVGDataURI(content.toString()) }
        },
        { test: /\.svg(\?.*)?$/, issuer: /\.js$/, type: 'asset/source' },
        // Many packages ship ES modules with extension-less imports.
        { test: /\.m?js$/, type: 'javascript/auto', resolve: { fullySpecified: false } },
        // Step into the extension's TypeScript while debugging.
        ...(production
          ? []
          : [
              {
                test: /\.js$/,
                include: path.join(extensionDir, 'lib'),
                enforce: 'pre',
                use: 'source-map-loader'
              }
            ])
      ]
    },
    plugins: [
      new webpack.ProvidePlugin({ process: 'process/browser' }),
      new MiniCssExtractPlugin({
        filename: production ? '[name].[contenthash:12].css' : '[name].css',
        chunkFilename: production ? '[id].[contenthash:12].css' : '[id].css'
      }),
      new JinjaTemplatePlugin(path.resolve(__dirname, 'src/index.html.j2'))
    ],
    performance: { hints: false },
    stats: 'errors-warnings'
  };

  return [app, ...themeConfigs.map(c => ({ ...c, stats: 'errors-warnings' }))];
};

// Emits index.html (a Jinja template for the launcher) with <script> tags for the hashed
// entry files, so a new build is never mixed with stale cached files.
class JinjaTemplatePlugin {
  constructor(templatePath) {
    this.templatePath = templatePath;
  }

  apply(compiler) {
    compiler.hooks.thisCompilation.tap('JinjaTemplatePlugin', compilation => {
      compilation.hooks.processAssets.tap(
        { name: 'JinjaTemplatePlugin', stage: webpack.Compilation.PROCESS_ASSETS_STAGE_SUMMARIZE },
        () => {
          const files = compilation.entrypoints.get('main').getFiles();
          const tags = files
            .filter(f => f.endsWith('.js'))
            .map(f => `<script defer src="{{ page_config['fullStaticUrl'] | e }}/${f}"></script>`)
            .join('\n  ');
          const html = require('fs')
            .readFileSync(this.templatePath, 'utf8')
            .replace('<!-- entry scripts -->', tags);
          compilation.emitAsset('index.html', new webpack.sources.RawSource(html));
        }
      );
    });
  }
}
