import { extendConfig, loadConfig } from '../config.ts';
import type { ServiceApp, ServiceModule } from '../service.ts';

const ProbeConfig = extendConfig({});

/**
 * A service made of the chassis and the routes a test gives it, named `probe`
 * (routes under `/api/probe/`): for tests of what the chassis does around any service.
 */
export function probeService(description: string, routes: (app: ServiceApp) => void): ServiceModule<typeof ProbeConfig> {
  return {
    name: 'probe',
    title: 'Probe',
    description,
    configSchema: ProbeConfig,
    async routes(app) {
      routes(app);
    },
  };
}

/** The probe's configuration: any free port, and `env` on top. */
export const probeConfig = (env: Record<string, string> = {}) => loadConfig(ProbeConfig, { SERVICE_NAME: 'probe', PORT: '0', ...env });
