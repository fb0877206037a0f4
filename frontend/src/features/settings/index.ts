// The settings feature's public face: the app and the other features import it from here only.
export { useBackendLabel, useBackends, useLLMStatus, useModels } from './api/llmBackend';
export { usePresetActions, usePresets } from './api/presets';
export { useSamplerNames } from './api/samplers';
export { useLegacySettingsMigration, useLLMSettings } from './api/settings';
export { SettingsPage } from './components/SettingsPage';
export { clearDrafts } from './lib/draftStore';
