/** What other parts of the product (the engine's native abort callback) use from the kernel. */
export { interruptFlag, interruptRequested, checkInterrupt, InterruptedError } from "./interrupt";
export { steer, display, type SteerApi } from "./steer-api";
export { RichValue, type Displayable, type SteerOutput } from "./display";
