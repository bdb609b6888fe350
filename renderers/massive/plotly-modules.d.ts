// plotly.js types its full bundle only; its core and trace modules (for a custom bundle) are untyped.
declare module "plotly.js/lib/core" {
  const core: typeof import("plotly.js") & { register(modules: unknown[]): void };
  export default core;
}
declare module "plotly.js/lib/heatmap";
declare module "plotly.js/lib/surface";
declare module "plotly.js/lib/scatter3d";
