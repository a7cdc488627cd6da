// The manual pages are imported as text (build.mjs's loader).
declare module "*.8" {
  const text: string;
  export default text;
}
declare module "*.5" {
  const text: string;
  export default text;
}
