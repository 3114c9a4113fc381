import { CreateSessionRequest, formatWalltime, type Site } from '@jupyterlab-interlink/contract';
import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';
import { ApiError } from '../api';
import { resourcesLabel } from '../format';
import {
  FORM_FIELDS,
  formProblem,
  launchRequest,
  type IFieldProblem,
  type ILaunchFields
} from '../launchform';
import { IPanelActions } from './actions';

export interface IFormProps {
  site: Site;
  initialProfile: string;
  trans: TranslationBundle;
  actions: IPanelActions;
  onDone(): void;
}

/** Profile, walltime, kernel or job, label: checked as the user types with the contract's launch rules. */
export function LaunchForm({
  site,
  initialProfile,
  trans,
  actions,
  onDone
}: IFormProps): React.ReactElement {
  const [profileId, setProfileId] = React.useState(initialProfile);
  const profile = site.profiles.find(p => p.id === profileId);
  const [walltimeText, setWalltimeText] = React.useState(
    formatWalltime(profile?.defaultWalltime ?? 3600)
  );
  const [type, setType] = React.useState<'kernel' | 'job'>('kernel');
  const [path, setPath] = React.useState('');
  const [name, setName] = React.useState('');
  const [ports, setPorts] = React.useState('');
  const [environment, setEnvironment] = React.useState(site.environments?.[0]?.id ?? '');
  const [serverError, setServerError] = React.useState<IFieldProblem | null>(null);
  const [submitting, setSubmitting] = React.useState(false);

  React.useEffect(() => setProfileId(initialProfile), [initialProfile]);

  const fields: ILaunchFields = {
    profile: profileId,
    walltime: walltimeText,
    type,
    path,
    name,
    ports,
    environment
  };
  const request = launchRequest(site, fields);
  const problem = formProblem(site, fields, trans) ?? serverError;
  const errorFor = (field: string) => (problem?.field === field ? problem.message : null);
  const formId = `interlink-form-${site.id}`;
  const changed =
    <T,>(set: (v: T) => void) =>
    (v: T) => {
      setServerError(null);
      set(v);
    };

  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    if (problem) {
      return;
    }
    setSubmitting(true);
    try {
      await actions.launch(request as CreateSessionRequest);
      onDone();
    } catch (err) {
      const field = err instanceof ApiError ? err.field : undefined;
      setServerError({ field, message: (err as Error).message });
    } finally {
      setSubmitting(false);
    }
  };

  const fieldProps = (field: string) => ({
    id: `${formId}-${field}`,
    'aria-invalid': errorFor(field) ? true : undefined,
    'aria-describedby': errorFor(field) ? `${formId}-${field}-error` : undefined,
    'data-testid': `interlink-field-${field}`
  });
  const fieldError = (field: string) =>
    errorFor(field) && (
      <div
        className="jp-InterlinkForm-error"
        id={`${formId}-${field}-error`}
        data-testid={`interlink-error-${field}`}
        role="alert"
      >
        {errorFor(field)}
      </div>
    );

  const textField = (
    field: string,
    value: string,
    set: (v: string) => void,
    extra: React.InputHTMLAttributes<HTMLInputElement> = {}
  ) => (
    <>
      <input
        className="jp-mod-styled"
        type="text"
        {...extra}
        value={value}
        onChange={e => changed(set)(e.target.value)}
        {...fieldProps(field)}
      />
      {fieldError(field)}
    </>
  );
  const kinds: [typeof type, string][] = [
    ['kernel', trans.__('Kernel for my notebooks')],
    ['job', trans.__('Batch job')]
  ];

  return (
    <form
      className="jp-InterlinkForm"
      data-testid="interlink-launch-form"
      aria-label={trans.__('Launch on %1', site.displayName)}
      onSubmit={e => void submit(e)}
      noValidate
    >
      <label htmlFor={`${formId}-profile`}>{trans.__('Profile')}</label>
      <select
        className="jp-mod-styled"
        value={profileId}
        onChange={e => changed(setProfileId)(e.target.value)}
        {...fieldProps('profile')}
      >
        {site.profiles.map(p => (
          <option key={p.id} value={p.id}>
            {p.displayName} ({resourcesLabel(p, trans)})
          </option>
        ))}
      </select>
      {fieldError('profile')}

      {site.environments && site.environments.length > 0 && (
        <>
          <label htmlFor={`${formId}-environment`}>{trans.__('Environment')}</label>
          <select
            className="jp-mod-styled"
            value={environment}
            onChange={e => changed(setEnvironment)(e.target.value)}
            {...fieldProps('environment')}
          >
            {site.environments.map(e => (
              <option key={e.id} value={e.id} title={e.description}>
                {e.displayName}
              </option>
            ))}
          </select>
          {fieldError('environment')}
        </>
      )}

      <label htmlFor={`${formId}-walltime`}>
        {trans.__('Walltime')}
        {profile && (
          <span className="jp-InterlinkForm-hint">
            {' '}
            {trans.__('(at most %1)', formatWalltime(profile.maxWalltime))}
          </span>
        )}
      </label>
      {textField('walltime', walltimeText, setWalltimeText, {
        inputMode: 'numeric',
        placeholder: '1:00:00'
      })}

      <fieldset className="jp-InterlinkForm-type">
        <legend>{trans.__('Run as')}</legend>
        {kinds.map(([kind, label]) => (
          <label key={kind}>
            <input
              type="radio"
              name={`${formId}-type`}
              checked={type === kind}
              onChange={() => changed(setType)(kind)}
              data-testid={`interlink-field-type-${kind}`}
            />{' '}
            {label}
          </label>
        ))}
      </fieldset>
      {fieldError('type')}

      {type === 'job' && (
        <>
          <label htmlFor={`${formId}-path`}>{trans.__('Notebook or script to run')}</label>
          {textField('path', path, setPath, { placeholder: 'analysis.ipynb' })}
        </>
      )}

      {type === 'kernel' && (
        <>
          <label htmlFor={`${formId}-ports`}>
            {trans.__('Web app ports (optional)')}
            <span className="jp-InterlinkForm-hint">
              {' '}
              {trans.__('(TensorBoard, Dask dashboard…)')}
            </span>
          </label>
          {textField('ports', ports, setPorts, { placeholder: '6006, 8787' })}
        </>
      )}

      <label htmlFor={`${formId}-name`}>{trans.__('Label (optional)')}</label>
      {textField('name', name, setName)}
      {problem && !FORM_FIELDS.includes(problem.field ?? '') && (
        <div className="jp-InterlinkForm-error" role="alert" data-testid="interlink-error-form">
          {problem.message}
        </div>
      )}

      <div className="jp-InterlinkForm-buttons">
        <button type="button" className="jp-InterlinkButton" onClick={onDone}>
          {trans.__('Cancel')}
        </button>
        <button
          type="submit"
          className="jp-InterlinkButton jp-mod-accept"
          disabled={!!problem || submitting}
          data-testid="interlink-launch"
        >
          {submitting ? trans.__('Launching…') : trans.__('Launch')}
        </button>
      </div>
    </form>
  );
}
