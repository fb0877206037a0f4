"""Stand-in for OllamaService with canned answers (spec §6.5), for tests and development."""


class MockOllamaService:
    backend_type = "ollama"

    def __init__(self, base_url, default_model=None):
        self.base_url = base_url
        self.default_model = default_model

    def get_models(self):
        return ['llama3.2:3b', 'mistral:7b', 'codellama:13b']

    def test_connection(self, generate=False, model=None):
        return {
            'status': 'connected',
            'models': self.get_models(),
            'server_info': {'version': '0.6.5'}
        }

    def chat_completion(self, payload, stream=False):
        model = payload.get('model') or self.default_model
        words = ['Once ', 'upon ', 'a ', 'time.']
        if stream:
            return iter(
                [{'object': 'chat.completion.chunk', 'model': model,
                  'choices': [{'index': 0, 'delta': {'content': word}, 'finish_reason': None}]}
                 for word in words]
            )
        return {'object': 'chat.completion', 'model': model,
                'choices': [{'index': 0, 'message': {'role': 'assistant', 'content': ''.join(words)},
                             'finish_reason': 'stop'}]}
